#!/bin/sh
# Installs the nod32 tarball on a system without dpkg: the files under
# root/ go to /, an existing configuration is kept (the shipped one is
# written beside it as .new), and what the Debian package's postinst
# does is done here. The MTA is not touched; see
# /usr/share/doc/nod32/GUIDE.md.
set -eu
cd "$(dirname "$0")/root"

[ "$(id -u)" = 0 ] || { echo "install.sh: run as root" >&2; exit 1; }

find . -type f -o -type l | while read -r f; do
    dest="/${f#./}"
    mkdir -p "$(dirname "$dest")"
    case "$dest" in
    /etc/*)
        if [ -e "$dest" ] && ! cmp -s "$f" "$dest"; then
            cp -p "$f" "$dest.new"
            echo "install.sh: kept $dest; the shipped one is $dest.new"
            continue
        fi
        ;;
    esac
    cp -P -p "$f" "$dest.nod32-new" && mv -f "$dest.nod32-new" "$dest"
done

if ! getent passwd nod32 >/dev/null; then
    useradd --system --user-group --home-dir /var/lib/nod32 --no-create-home \
        --shell /usr/sbin/nologin --comment "nod32 mail antivirus" nod32
fi
install -d -m 0755 /var/lib/nod32
install -d -m 0700 -o nod32 -g nod32 /var/spool/nod32 /var/spool/nod32/quarantine
if [ ! -e /var/lib/nod32/nod32.000 ]; then
    /usr/bin/nod32cli compile /usr/share/nod32/default.ndb \
        /usr/share/nod32/default.hdb -o /var/lib/nod32/nod32.000 >/dev/null
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
fi
echo "install.sh: installed; next: /usr/share/doc/nod32/GUIDE.md"
