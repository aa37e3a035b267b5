getent group dds-backup-sync >/dev/null || groupadd -r dds-backup-sync
getent passwd dds-backup-sync >/dev/null || \
  useradd -r -g dds-backup-sync -d /var/lib/dds-backup-sync -M -s /sbin/nologin dds-backup-sync
