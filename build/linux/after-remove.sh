#!/bin/bash
# Ward deb/rpm post-remove. Stops running agents and removes the login item. Managed
# configuration (/etc/ward) and the device identity are kept unless removal is a purge:
#   Debian/Ubuntu:  apt purge ward            (dpkg passes "purge")
#   any:            WARD_PURGE_IDENTITY=1 before removing (e.g. sudo WARD_PURGE_IDENTITY=1 rpm -e ward)
# Purging deletes /etc/ward, /var/lib/ward and every user's ~/.local/share/ward (the identity
# record and the OS-keychain-sealed key blob). Keys held in a TPM are evicted by the agent's own
# reset, which runs first if the binary is still present.
set -u
APP_DIR='/opt/${sanitizedProductName}'
BIN='${executable}'

# rpm runs this with $1 = 1 on upgrade: do nothing then.
if [ "${1:-}" = "1" ] || [ "${1:-}" = "upgrade" ]; then
    exit 0
fi

if type update-alternatives >/dev/null 2>&1; then
    update-alternatives --remove "$BIN" "$APP_DIR/$BIN" || true
else
    rm -f "/usr/bin/$BIN"
fi
rm -f /etc/xdg/autostart/dev.ward.agent.desktop

# Stop the agents that still run from the removed install (exact executable path only).
for pid in $(pidof "$APP_DIR/$BIN" 2>/dev/null); do
    kill -TERM "$pid" 2>/dev/null || true
done

if [ "${1:-}" = "purge" ] || [ "${WARD_PURGE_IDENTITY:-0}" = "1" ]; then
    rm -rf /etc/ward /var/lib/ward
    for home in /home/* /root; do
        [ -d "$home/.local/share/ward" ] && rm -rf "$home/.local/share/ward"
    done
fi
exit 0
