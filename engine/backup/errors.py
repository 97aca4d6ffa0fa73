"""The one error of backups and restores: its message says what is wrong and what to do."""


class BackupError(Exception):
    pass
