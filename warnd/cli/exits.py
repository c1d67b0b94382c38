"""The exit statuses of `warnd`, which the systemd unit and scripts act on."""

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2
# `warnd status` when the daemon does not answer (as `systemctl status` says of a stopped unit).
EXIT_NOT_RUNNING = 3
# The state database is damaged: the unit does not restart into it (RestartPreventExitStatus).
EXIT_STORE = 4
