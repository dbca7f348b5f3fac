#!/usr/bin/env bash
# Starts Redis and MariaDB on loopback when they are not listening (CI machines have both
# installed; a newcomer's laptop may not, and then the tests that need them skip, except
# under CI=true where they fail loudly).
set -uo pipefail

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {
  for _ in $(seq 1 60); do listening "$1" && return 0; sleep 0.5; done
  return 1
}

if ! listening 6379; then
  if command -v redis-server >/dev/null 2>&1; then
    mkdir -p /tmp/redis-ci
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --dir /tmp/redis-ci --logfile /tmp/redis-ci/redis.log
    wait_for 6379 || echo "warning: redis did not start" >&2
  else
    echo "note: redis-server not installed; Redis tests will skip (or fail under CI=true)" >&2
  fi
fi

if ! listening 3306; then
  if [ -x /usr/sbin/mariadbd ]; then
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd 2>/dev/null \
      || (/usr/sbin/mariadbd --user=root >/tmp/mariadb.log 2>&1 &)
    wait_for 3306 || echo "warning: mariadb did not start" >&2
  else
    echo "note: mariadb not installed; MySQL tests will skip (or fail under CI=true)" >&2
  fi
fi
exit 0
