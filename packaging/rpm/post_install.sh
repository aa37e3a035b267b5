install -d -m 0750 -o dds-backup-sync -g dds-backup-sync /var/lib/dds-backup-sync
install -d -m 0750 -o root -g dds-backup-sync /etc/dds-backup-sync
chown root:dds-backup-sync /etc/dds-backup-sync/config.toml
chmod 0640 /etc/dds-backup-sync/config.toml
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || :; fi
