# Plots of bench/metastable.sh. Called with: out (the results directory),
# trig_from and trig_to (the trigger, seconds into the run), quick (1: no
# boundary plot).
set terminal pngcairo size 1100,600 font ",11"
set datafile separator ","
set key outside bottom center horizontal maxrows 2

# ---- goodput timeline of the main cell, one run per client
set output out."/timeline.png"
set title "Goodput after a trigger (service time x3), load 0.8 C"
set xlabel "time since the load started (s)"
set ylabel "calls/s"
set y2label "server queue (max in the second)"
set y2tics
set ytics nomirror
set yrange [0:*]
set y2range [0:*]
set object 1 rect from trig_from, graph 0 to trig_to, graph 1 fc rgb "#ffdddd" fs solid 0.5 noborder behind
set label 1 "trigger" at trig_from + 0.3, graph 0.95
f = out."/timeline_main.csv"
plot f using 1:"offered_grpc" with lines lw 1 dt 2 lc rgb "#555555" title "offered", \
     f using 1:"goodput_grpc" with lines lw 2 lc rgb "#d62728" title "goodput, gRPC retryPolicy", \
     f using 1:"goodput_grpcr" with lines lw 2 lc rgb "#1f77b4" title "goodput, grpc-resilience (defaults)", \
     f using 1:"goodput_budget" with lines lw 2 lc rgb "#2ca02c" title "goodput, grpc-resilience budget only", \
     f using 1:"queue_max_grpc" axes x1y2 with lines lw 1 lc rgb "#ff9896" title "queue, gRPC", \
     f using 1:"queue_max_grpcr" axes x1y2 with lines lw 1 lc rgb "#aec7e8" title "queue, grpc-resilience"
unset object 1
unset label 1
unset y2label
unset y2tics
set ytics mirror

if (quick == 0) {
  # ---- boundary: median recovery time per load, one line per trigger and
  # client; "never" plotted at 75 s.
  set output out."/boundary.png"
  set title "Time to recover after the trigger ends (median of 3; 75 = never within the 70 s observed)"
  set xlabel "offered load (fraction of capacity C)"
  set ylabel "seconds after the trigger ends"
  set yrange [-1:80]
  set xrange [0.45:0.95]
  set xtics (0.5, 0.7, 0.8, 0.9)
  b = out."/boundary.csv"
  r(col) = (strcol(col) eq "" ? 75 : column(col))
  plot for [T in "1 10"] b using (strcol(1) eq "grpc" && column(2) == T+0 ? $3 : 1/0):(r(6)) \
         with linespoints lw 2 pt 7 dt 2 title "gRPC retryPolicy, T=".T." s", \
       for [T in "1 10"] b using (strcol(1) eq "grpcr" && column(2) == T+0 ? $3 : 1/0):(r(6)) \
         with linespoints lw 2 pt 5 title "grpc-resilience, T=".T." s"
}
