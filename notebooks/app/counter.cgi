#!/bin/sh
# The web page: one more visit counted in the store (INCR, as redis understands it), then
# the greeting, which task answered, and the count.
count=$(printf 'INCR hits\r\nQUIT\r\n' | nc -w 3 store 6379 | head -n 1 | tr -d ':\r')
printf 'Content-Type: text/plain\r\n\r\n'
echo "${GREETING:-Hello} from $(hostname): this page was seen ${count:-? (the store did not answer)} times."
