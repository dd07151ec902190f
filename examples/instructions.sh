#!/usr/bin/env bash
# Instructions per evaluation, ORM against hand-written sqlx, counted by valgrind's
# callgrind: unlike wall time, the count is repeatable whatever else the machine does.
# It covers this process only (the client, and SQLite's engine, which runs in-process),
# not the PostgreSQL or MySQL/MariaDB server.
#
#   examples/instructions.sh [sqlite|postgres|mysql] ["W1 load users, N = 10000" W2 ...]
#
# Each count runs the bench binary twice under callgrind, with ITERS evaluations of one
# variant and with none (same start-up, seeding and warm-up), and divides the difference.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-postgres}
shift || true
case $backend in
sqlite | postgres | mysql) ;;
*)
    echo "usage: $0 [sqlite|postgres|mysql] [workload ...]" >&2
    exit 2
    ;;
esac
if [ $# -eq 0 ]; then
    set -- "W1 load users, N = 1" "W1 load users, N = 100" "W1 load users, N = 10000" W2 W3 W4 W5
fi
iters=${ITERS:-10}
variants=${VARIANTS:-orm sqlx orm-conn sqlx-conn}
cargo build --quiet --release -p examples --bin bench
bin=${CARGO_TARGET_DIR:-target}/release/bench

count() { # workload variant iters
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" --backend "$backend" \
        --quick --only "$1" --variant "$2" --iters "$3" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

printf '| %s | workload | %s |\n' "$backend" "$(echo $variants | sed 's/ / | /g')"
for w in "$@"; do
    row="| | $w |"
    for v in $variants; do
        base=$(count "$w" "$v" 0)
        with=$(count "$w" "$v" "$iters")
        row="$row $(( (with - base) / iters )) |"
    done
    echo "$row"
done
