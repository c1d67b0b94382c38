#!/usr/bin/env bash
# Install warnd as a system service from this checkout (Debian 12 or any systemd >= 252):
#   /opt/warnd/venv            the program (a virtualenv)
#   /etc/warnd/warnd.yaml      the configuration, with rules/, templates/, regions/ and feeds/,
#                              root:warnd-config, readable by the service's group only (0750/0640)
#   /etc/warnd/credentials/    X tokens, partner secrets, URLs that carry one: a file each (root only)
#   /var/lib/warnd             the state (created by systemd at first start)
#   /etc/systemd/system/warnd.service
#
#   sudo systemd/install.sh                 install or upgrade; an existing /etc/warnd is kept
#   systemd/install.sh --root DIR           stage the same tree under DIR (packaging, tests)
#   systemd/install.sh --root DIR --no-venv ... without building the virtualenv
#
# The service runs as a dynamic user (DynamicUser=yes), which owns nothing under /etc; it reads
# the configuration through the system group warnd-config (SupplementaryGroups= in the unit),
# made here. Not "warnd": systemd names the dynamic user's own group after the unit, and a
# static group of that name makes it refuse to start the service (217/USER). Other local users
# cannot read the configuration: partner URLs, ops webhooks and the accounts' layout are nobody
# else's business. With --root the group is not made and nothing is chowned (the host's groups
# are not the target's): a package does both when it installs.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
root=""
venv=1
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root=$(realpath -m "$2"); shift 2 ;;
    --no-venv) venv=0; shift ;;
    *) echo "usage: $0 [--root DIR] [--no-venv]" >&2; exit 2 ;;
  esac
done

etc="$root/etc/warnd"
opt="$root/opt/warnd"

if [ "$venv" = 1 ]; then
  python3 -m venv "$opt/venv"
  "$opt/venv/bin/pip" install -q --upgrade "$src"
  echo "installed $("$opt/venv/bin/warnd" --version) in $opt/venv"
fi
install -d -m 0755 "$opt"
install -m 0644 "$src/README.md" "$opt/README.md"
# The documentation the unit names (Documentation=): the README links into docs/. Replaced whole,
# so a page dropped upstream does not linger beside the new ones.
rm -rf "$opt/docs"
cp -r "$src/docs" "$opt/docs"
find "$opt/docs" -type d -exec chmod 0755 {} + -o -type f -exec chmod 0644 {} +

if [ -e "$etc/warnd.yaml" ]; then
  echo "kept the existing configuration in $etc (compare with $src/config/warnd.yaml)"
else
  install -d -m 0755 "$etc"
  cp -r "$src/config/rules" "$src/config/templates" "$src/config/regions" "$etc/"
  mkdir -p "$etc/feeds"
  cp "$src"/feeds/*.yaml "$etc/feeds/"
  # The catalogue sits beside the configuration once installed.
  sed -e 's#^feed_catalogue: \.\./feeds$#feed_catalogue: feeds#' "$src/config/warnd.yaml" > "$etc/warnd.yaml"
  echo "installed the configuration in $etc: set user_agent, accounts and partners before starting"
fi
install -d -m 0700 "$etc/credentials"

# On every run, upgrades included: the unit's ConfigurationDirectoryMode=0750 would otherwise
# lock the service out of a tree an older installer left root:root.
if [ -z "$root" ]; then
  groupadd --system -f warnd-config
  find "$etc" -path "$etc/credentials" -prune -o \( -type d -o -type f \) -exec chown root:warnd-config {} +
  chown -R root:root "$etc/credentials"
fi
find "$etc" -path "$etc/credentials" -prune -o -type d -exec chmod 0750 {} + -o -type f -exec chmod 0640 {} +
chmod -R go= "$etc/credentials"

install -d -m 0755 "$root/etc/systemd/system"
install -m 0644 "$src/systemd/warnd.service" "$root/etc/systemd/system/warnd.service"

if [ -z "$root" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
fi
cat <<EOF
next:
  1. put each credential in $etc/credentials/<name> (see: warnd check --secrets -c $etc/warnd.yaml)
  2. systemctl enable --now warnd
  3. warnd status -c $etc/warnd.yaml      journalctl -u warnd -f
EOF
