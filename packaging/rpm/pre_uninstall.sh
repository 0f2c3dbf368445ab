# rpm %preun: on the last erase ($1 = 0) stop the units and remove the
# links %post made; configuration, modules and quarantine stay.
if [ "$1" -eq 0 ]; then
    if [ -d /run/systemd/system ]; then
        systemctl --no-reload disable --now nod32smtp.socket nod32smtp.service \
            nod32smfi.socket nod32smfi.service nod32upd.timer >/dev/null 2>&1 || :
    fi
    rm -f /usr/bin/nod32cli /usr/bin/nod32mda /usr/sbin/nod32smfi \
        /usr/sbin/nod32smtp /usr/sbin/nod32upd
fi
