#!/bin/sh
# A tiny key-value store for the offline lesson: one connection, commands one per line,
# answered as redis answers them (INCR key -> ":N", QUIT -> "+OK" and the end).
mkdir -p /tmp  # the offline image is a bare busybox: no /tmp until made
while read -r cmd key rest; do
  cmd=$(printf '%s' "$cmd" | tr -d '\r' | tr 'a-z' 'A-Z')
  key=$(printf '%s' "$key" | tr -d '\r')
  case "$cmd" in
    INCR)
      case "$key" in ''|*[!A-Za-z0-9_]*) printf -- "-ERR bad key\r\n"; continue ;; esac
      until mkdir /tmp/lock 2>/dev/null; do usleep 10000; done
      n=$(( $(cat "/tmp/$key" 2>/dev/null || echo 0) + 1 ))
      echo "$n" > "/tmp/$key"
      rmdir /tmp/lock
      printf ':%s\r\n' "$n" ;;
    QUIT) printf '+OK\r\n'; exit 0 ;;
    *) printf -- "-ERR unknown command '%s'\r\n" "$cmd" ;;
  esac
done
