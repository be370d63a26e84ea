# The heavy-tail runs of bench/tail.sh: p50, p99 and p99.9 per client (no
# retries, the per-attempt timeouts, the fixed and adaptive hedges; the rows
# of plot.csv, medians over the seeds), log scale. Called with out (results
# directory).
set terminal pngcairo size 1100,500 font ",11"
set datafile separator ","
set output out."/tail.png"
set title "A heavy tail (1% of calls 200 ms): latency percentiles, retries and hedges"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y
set yrange [0.5:1000]
set ylabel "ms (log scale)"
set key top right
# plot.csv's first line names its columns: not a row of bars.
set key autotitle columnhead
set xtics nomirror
plot out."/plot.csv" using 2:xtic(1) title "p50", '' using 3 title "p99", '' using 4 title "p99.9"
