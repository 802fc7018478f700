#!/bin/bash
# Ward deb/rpm post-install. electron-builder fills ${executable} and ${sanitizedProductName}
# (the same template variables as its default script, whose work is kept below).
set -u
APP_DIR='/opt/${sanitizedProductName}'
BIN='${executable}'

if type update-alternatives >/dev/null 2>&1; then
    if [ -L "/usr/bin/$BIN" ] && [ -e "/usr/bin/$BIN" ] && [ "$(readlink "/usr/bin/$BIN")" != "/etc/alternatives/$BIN" ]; then
        rm -f "/usr/bin/$BIN"
    fi
    update-alternatives --install "/usr/bin/$BIN" "$BIN" "$APP_DIR/$BIN" 100 || ln -sf "$APP_DIR/$BIN" "/usr/bin/$BIN"
else
    ln -sf "$APP_DIR/$BIN" "/usr/bin/$BIN"
fi

# Chromium's sandbox: SUID helper only where unprivileged user namespaces do not work.
if ! { [ -L /proc/self/ns/user ] && unshare --user true; } 2>/dev/null; then
    chmod 4755 "$APP_DIR/chrome-sandbox" || true
else
    chmod 0755 "$APP_DIR/chrome-sandbox" || true
fi

# Start at login for every user: an XDG autostart entry (read by GNOME, KDE, XFCE, ...).
# A user can hide it for themselves; IT enforces "must run" through posture, not autostart.
mkdir -p /etc/xdg/autostart
cat > /etc/xdg/autostart/dev.ward.agent.desktop <<DESKTOP
[Desktop Entry]
Type=Application
Name=Ward
Comment=Device posture and zero-trust agent
Exec=$APP_DIR/$BIN --hidden
X-GNOME-Autostart-enabled=true
NoDisplay=true
DESKTOP
chmod 0644 /etc/xdg/autostart/dev.ward.agent.desktop

# Managed configuration lives here (see docs/it-admin.md); created empty, never overwritten.
mkdir -p /etc/ward/config.d
chmod 0755 /etc/ward /etc/ward/config.d

if hash update-desktop-database 2>/dev/null; then
    update-desktop-database /usr/share/applications || true
fi
exit 0
