# bash completion for udfcronctl                                  -*- shell-script -*-
#
# Schedule names come from the running daemon (`udfcronctl list --json`); when it
# does not answer, from the name = "..." lines of the configuration's schedule files.

_udfcronctl_schedules() {
        local socket=$1 out
        out=$(udfcronctl ${socket:+--socket "$socket"} list --json 2>/dev/null) ||
                out=$(cat /etc/udfcron/schedules.d/*.conf 2>/dev/null | tr ';' '\n')
        # `"name":"x"` in JSON, `name = "x"` in libconfig; names are [A-Za-z0-9_.@-], nothing to unquote
        printf '%s\n' "$out" |
                grep -oE '(^|[^A-Za-z0-9_])"?name"?[[:space:]]*[:=][[:space:]]*"[A-Za-z0-9_.@-]+"' |
                sed -E 's/.*"([^"]+)"$/\1/' | sort -u
}

_udfcronctl() {
        local cur prev words cword
        _init_completion || return

        local commands="list status run skip pause resume cancel reload history logs check next storage"
        local socket= verb= i
        for ((i = 1; i < cword; i++)); do
                case ${words[i]} in
                -s | --socket) socket=${words[i + 1]}; ((i++)) ;;
                --socket=*) socket=${words[i]#--socket=} ;;
                -*) ;;
                *) verb=${words[i]}; break ;;
                esac
        done

        if [[ -z $verb ]]; then
                case $prev in
                -s | --socket) _filedir; return ;;
                esac
                if [[ $cur == -* ]]; then
                        COMPREPLY=($(compgen -W '--socket --help --version' -- "$cur"))
                else
                        COMPREPLY=($(compgen -W "$commands" -- "$cur"))
                fi
                return
        fi

        local opts= takes_schedule=
        case $verb in
        list) opts='--json --help' ;;
        status) opts='--json --help' takes_schedule=1 ;;
        run)
                case $prev in
                -p | --param) compopt -o nospace; COMPREPLY=($(compgen -W 'NAME=' -- "$cur")); return ;;
                esac
                opts='--param --wait --json --help' takes_schedule=1 ;;
        skip | pause | resume) opts='--help' takes_schedule=1 ;;
        history)
                case $prev in
                -n | --count) return ;;
                esac
                opts='--count --json --help' takes_schedule=1 ;;
        cancel | logs) opts='--help'; [[ $verb == logs ]] && opts='--follow --help' ;;
        reload) opts='--help' ;;
        check)
                case $prev in
                -c | --config) _filedir conf; return ;;
                esac
                opts='--config --help' ;;
        next)
                case $prev in
                -z | --tz)
                        COMPREPLY=($(compgen -W "$(cd /usr/share/zoneinfo 2>/dev/null &&
                                find -L . -type f ! -name '*.*' ! -path './posix/*' ! -path './right/*' |
                                sed 's|^\./||')" -- "$cur"))
                        return ;;
                --dst) COMPREPLY=($(compgen -W 'shift skip' -- "$cur")); return ;;
                -n | --count | -f | --from) return ;;
                esac
                opts='--tz --count --from --dst --check --help' ;;
        storage)
                case $prev in
                -c | --config) _filedir conf; return ;;
                -o | --output) _filedir; return ;;
                --max-size | --expires) return ;;
                esac
                opts='--config --output --max-size --expires --help'
                if [[ $cur != -* && $prev == storage ]]; then
                        COMPREPLY=($(compgen -W 'ls get put rm sign' -- "$cur"))
                        return
                fi ;;
        esac

        if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        elif [[ -n $takes_schedule ]]; then
                COMPREPLY=($(compgen -W "$(_udfcronctl_schedules "$socket")" -- "$cur"))
        fi
} &&
        complete -F _udfcronctl udfcronctl
