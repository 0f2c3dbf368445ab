# rpm %post: what the Debian package's postinst does (see
# packaging/debian/postinst), plus the five names of the one executable,
# which cargo-generate-rpm cannot package as symlinks.
for n in nod32cli nod32mda; do ln -sf ../lib/nod32/nod32 /usr/bin/$n; done
for n in nod32smfi nod32smtp nod32upd; do ln -sf ../lib/nod32/nod32 /usr/sbin/$n; done
if ! getent passwd nod32 >/dev/null; then
    useradd --system --user-group --home-dir /var/lib/nod32 --no-create-home \
        --shell /sbin/nologin --comment "nod32 mail antivirus" nod32
fi
install -d -m 0755 /var/lib/nod32 /var/lib/nod32/clamav
install -d -m 0700 -o nod32 -g nod32 /var/lib/nod32/clamav/.work
install -d -m 0700 -o nod32 -g nod32 /var/spool/nod32 /var/spool/nod32/quarantine
if [ ! -e /var/lib/nod32/nod32.000 ]; then
    /usr/bin/nod32cli compile /usr/share/nod32/default.ndb \
        /usr/share/nod32/default.hdb -o /var/lib/nod32/nod32.000 >/dev/null
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload || :
    if [ "$1" -gt 1 ]; then
        systemctl try-restart nod32smtp.service nod32smfi.service || :
    fi
fi
