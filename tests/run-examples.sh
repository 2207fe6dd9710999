#!/bin/sh
# Until the daemon exists, `make run` previews the example schedules: for each
# schedule in DIR/*.conf it prints the next fire times in the schedule's zone.
# Usage: run-examples.sh UDFCRONCTL DIR
set -eu
ctl=$1 dir=$2

for conf in "$dir"/*.conf; do
        # name, cron and timezone of each schedule block, one tab-separated line each
        awk '
                function flush() { if (name != "") print name "\t" cron "\t" zone; name = cron = zone = "" }
                /^[[:space:]]*#/ { next }
                match($0, /name[[:space:]]*=[[:space:]]*"[^"]*"/)     { flush(); name = value($0) }
                match($0, /cron[[:space:]]*=[[:space:]]*"[^"]*"/)     { cron = value($0) }
                match($0, /timezone[[:space:]]*=[[:space:]]*"[^"]*"/) { zone = value($0) }
                function value(line) { sub(/^[^"]*"/, "", line); sub(/".*$/, "", line); return line }
                END { flush() }
        ' "$conf" | while IFS="$(printf '\t')" read -r name cron zone; do
                echo "== $name: \"$cron\" in ${zone:-the system zone} ($(basename "$conf"))"
                if [ -n "$zone" ]; then
                        "$ctl" next -n 3 --tz "$zone" "$cron"
                else
                        "$ctl" next -n 3 "$cron"
                fi
        done
done
