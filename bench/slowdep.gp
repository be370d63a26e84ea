# The slow-dependency runs of bench/metastable.sh (seed 1): goodput and
# server queue per second for each client. Called with out, trig_from and
# trig_to (the slowdown, seconds into the run).
set terminal pngcairo size 1100,600 font ",11"
set datafile separator ","
set key outside bottom center horizontal maxrows 2
set output out."/slowdep.png"
set title "A slow dependency (service time x10 for 20 s, no errors), load 0.8 C"
set xlabel "time since the load started (s)"
set ylabel "calls/s"
set y2label "server queue (max in the second)"
set y2tics
set ytics nomirror
set yrange [0:*]
set y2range [0:*]
set object 1 rect from trig_from, graph 0 to trig_to, graph 1 fc rgb "#ffdddd" fs solid 0.5 noborder behind
set label 1 "slowdown" at trig_from + 0.3, graph 0.95
f = out."/slowdep.csv"
plot f using 1:"offered_grpcr" with lines lw 1 dt 2 lc rgb "#555555" title "offered", \
     f using 1:"goodput_grpcr" with lines lw 2 lc rgb "#1f77b4" title "goodput, defaults", \
     f using 1:"goodput_grpcr-slow" with lines lw 2 lc rgb "#ff7f0e" title "goodput, slow-call settings", \
     f using 1:"goodput_budget" with lines lw 2 lc rgb "#2ca02c" title "goodput, budget only", \
     f using 1:"queue_grpcr" axes x1y2 with lines lw 1 lc rgb "#aec7e8" title "queue, defaults", \
     f using 1:"queue_grpcr-slow" axes x1y2 with lines lw 1 lc rgb "#ffbb78" title "queue, slow-call settings", \
     f using 1:"queue_budget" axes x1y2 with lines lw 1 lc rgb "#98df8a" title "queue, budget only"
