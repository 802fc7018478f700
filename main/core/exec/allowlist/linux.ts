/**
 * Commands Ward may run on Linux, by name, with the absolute paths tried in order.
 * Nothing outside this list runs; nothing is looked up on PATH.
 */
export const linuxCommands: Readonly<Record<string, readonly string[]>> = {
  lsblk: ['/usr/bin/lsblk', '/bin/lsblk'],
  findmnt: ['/usr/bin/findmnt', '/bin/findmnt'],
  cryptsetup: ['/usr/sbin/cryptsetup', '/sbin/cryptsetup'],
  dmsetup: ['/usr/sbin/dmsetup', '/sbin/dmsetup'],
  ufw: ['/usr/sbin/ufw', '/sbin/ufw'],
  nft: ['/usr/sbin/nft', '/sbin/nft'],
  iptables: ['/usr/sbin/iptables', '/sbin/iptables'],
  'firewall-cmd': ['/usr/bin/firewall-cmd'],
  systemctl: ['/usr/bin/systemctl', '/bin/systemctl'],
  'systemd-detect-virt': ['/usr/bin/systemd-detect-virt', '/bin/systemd-detect-virt'],
  gsettings: ['/usr/bin/gsettings'],
  kreadconfig5: ['/usr/bin/kreadconfig5'],
  kreadconfig6: ['/usr/bin/kreadconfig6'],
  'apt-config': ['/usr/bin/apt-config'],
  'apt-get': ['/usr/bin/apt-get'],
  apt: ['/usr/bin/apt'],
  'apt-check': ['/usr/lib/update-notifier/apt-check'],
  dnf: ['/usr/bin/dnf'],
  'dpkg-query': ['/usr/bin/dpkg-query'],
  rpm: ['/usr/bin/rpm', '/bin/rpm'],
  mokutil: ['/usr/bin/mokutil'],
  bootctl: ['/usr/bin/bootctl', '/bin/bootctl'],
  fwupdmgr: ['/usr/bin/fwupdmgr'],
  mdatp: ['/usr/bin/mdatp'],
  falconctl: ['/opt/CrowdStrike/falconctl'],
  sentinelctl: ['/opt/sentinelone/bin/sentinelctl'],
  openssl: ['/usr/bin/openssl'],
  loginctl: ['/usr/bin/loginctl', '/bin/loginctl'],
  'tpm2_getcap': ['/usr/bin/tpm2_getcap'],
  // `ward login`: open the system browser for the OAuth sign-in (RFC 8252: never an embedded view).
  'xdg-open': ['/usr/bin/xdg-open'],
};
