#!/bin/bash
# Uninstall Ward from a Mac (run as root, e.g. from your MDM):
#   sudo /Applications/Ward.app/Contents/Resources/uninstall.sh            stop Ward, remove app and login item
#   sudo /Applications/Ward.app/Contents/Resources/uninstall.sh --purge    also remove every user's Ward data
#                                                                         and Keychain items (the device identity)
set -u
AGENT=/Library/LaunchAgents/dev.ward.agent.plist
for uid in $(/usr/bin/dscl . -list /Users UniqueID | /usr/bin/awk '$2 >= 500 { print $2 }'); do
    /bin/launchctl bootout "gui/$uid/dev.ward.agent" 2>/dev/null || true
done
rm -f "$AGENT"
rm -rf /Applications/Ward.app
/usr/sbin/pkgutil --forget dev.ward.agent >/dev/null 2>&1 || true

if [ "${1:-}" = "--purge" ]; then
    rm -rf "/Library/Application Support/Ward"
    for home in /Users/*; do
        user=$(basename "$home")
        [ -d "$home/Library/Application Support/Ward" ] && rm -rf "$home/Library/Application Support/Ward"
        if [ -f "$home/Library/Keychains/login.keychain-db" ]; then
            while /usr/bin/sudo -u "$user" /usr/bin/security delete-generic-password -s dev.ward.agent >/dev/null 2>&1; do :; done
        fi
    done
fi
exit 0
