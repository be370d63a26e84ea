# Plot of bench/hops.sh. Called with: out (the results directory), which
# holds amplification.csv (median arrivals per client call at each hop, and
# the bound of each grpc-resilience configuration).
set terminal pngcairo size 1000,600 font ",11"
set datafile separator ","
set output out."/amplification.png"
set title "Attempts reaching each hop per client call (S3 always fails UNAVAILABLE)"
set xlabel "hop (server)"
set ylabel "arrivals per client call (log)"
set logscale y
set yrange [0.03:300]
set xrange [0.8:3.2]
set xtics ("S1" 1, "S2" 2, "S3" 3)
set key outside right top
f = out."/amplification.csv"
# Columns named <mode>_<rate> exist for the runs made; a missing one is skipped.
has(c) = (system("head -1 ".f." | tr ',' '\\n' | grep -qx ".c." && echo 1 || echo 0") eq "1")
# The plot command is built from the columns present (a --quick run has
# fewer), then evaluated.
cmd = "plot f using 1:'grpc_max' with lines dt 3 lc rgb '#999999' title '5^k (maxAttempts 5 per hop)'"
if (has("grpc_20")) cmd = cmd . ", f using 1:'grpc_20' with linespoints lw 2 pt 7 lc rgb '#d62728' title 'gRPC retryPolicy, 20/s'"
if (has("grpcr_20")) cmd = cmd . ", f using 1:'grpcr_20' with linespoints lw 2 pt 5 lc rgb '#1f77b4' title 'grpc-resilience budget, 20/s'"
if (has("grpcr_20_bound")) cmd = cmd . ", f using 1:'grpcr_20_bound' with lines dt 2 lc rgb '#1f77b4' title 'its bound, 20/s'"
if (has("grpcr_100")) cmd = cmd . ", f using 1:'grpcr_100' with linespoints lw 2 pt 9 lc rgb '#17becf' title 'grpc-resilience budget, 100/s'"
if (has("grpcr_100_bound")) cmd = cmd . ", f using 1:'grpcr_100_bound' with lines dt 2 lc rgb '#17becf' title 'its bound, 100/s'"
if (has("breaker_20")) cmd = cmd . ", f using 1:'breaker_20' with linespoints lw 2 pt 11 lc rgb '#2ca02c' title 'budget + breaker, 20/s'"
if (has("breaker_100")) cmd = cmd . ", f using 1:'breaker_100' with linespoints lw 2 pt 13 lc rgb '#98df8a' title 'budget + breaker, 100/s'"
eval cmd
