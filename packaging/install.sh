#!/bin/sh
# Installs the nod32 tarball on a system without dpkg: the files under
# root/ go to / (or to $DESTDIR), an existing configuration is kept (the
# shipped one is written beside it as .new), and what the Debian
# package's postinst does is done here. The MTA is not touched; see
# /usr/share/doc/nod32/GUIDE.md.
set -eu
cd "$(dirname "$0")/root"
DESTDIR="${DESTDIR:-}"

if [ -z "$DESTDIR" ] && [ "$(id -u)" != 0 ]; then
    echo "install.sh: run as root (or set DESTDIR)" >&2
    exit 1
fi

find . -type f -o -type l | while read -r f; do
    dest="$DESTDIR/${f#./}"
    mkdir -p "$(dirname "$dest")"
    case "${f#.}" in
    /etc/*)
        if [ -e "$dest" ] && ! cmp -s "$f" "$dest"; then
            cp -p "$f" "$dest.new"
            echo "install.sh: kept ${f#.}; the shipped one is ${f#.}.new"
            continue
        fi
        ;;
    esac
    cp -P -p "$f" "$dest.nod32-new" && mv -f "$dest.nod32-new" "$dest"
done

install -d -m 0755 "$DESTDIR/var/lib/nod32" "$DESTDIR/var/lib/nod32/clamav"
install -d -m 0700 "$DESTDIR/var/spool/nod32" "$DESTDIR/var/spool/nod32/quarantine" \
    "$DESTDIR/var/lib/nod32/clamav/.work"
if [ -z "$DESTDIR" ]; then
    if ! getent passwd nod32 >/dev/null; then
        useradd --system --user-group --home-dir /var/lib/nod32 --no-create-home \
            --shell /usr/sbin/nologin --comment "nod32 mail antivirus" nod32
    fi
    # nod32upd's downloads run as nod32 (the databases stay root's).
    chown nod32:nod32 /var/spool/nod32 /var/spool/nod32/quarantine \
        /var/lib/nod32/clamav/.work
fi
if [ ! -e "$DESTDIR/var/lib/nod32/nod32.000" ]; then
    "$DESTDIR/usr/bin/nod32cli" compile "$DESTDIR/usr/share/nod32/default.ndb" \
        "$DESTDIR/usr/share/nod32/default.hdb" -o "$DESTDIR/var/lib/nod32/nod32.000" >/dev/null
fi
if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
fi
echo "install.sh: installed${DESTDIR:+ under $DESTDIR}; next: /usr/share/doc/nod32/GUIDE.md"
