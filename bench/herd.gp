# Plots of the herd experiment (bench/herd.sh runs it):
#   work.png        server arrivals (attempts that reached it) vs N
#   completion.png  time from the barrier until the last call ended vs N
# one line per strategy: the median of the repeats, bars from min to max.
# Budget variants share a colour with their no-budget twin (solid: budget
# on / retryThrottling on; dashed: off).
#
# usage: gnuplot -e "dir='bench/results/herd'" bench/herd.gp
if (!exists("dir")) dir = "bench/results/herd"
summary = dir . "/summary.csv"

set datafile separator ","
set terminal pngcairo size 1200,720 font "sans,11" noenhanced
set key outside right top spacing 1.1
set grid
set logscale xy
set xtics (10, 25, 50, 100, 200)
set xrange [8:250]
set xlabel "clients N (each its own channel, one call each)"

# Strategy keys (summary.csv column 1) and their labels, in the same order.
names = "fixed fixed-nobudget expo expo-nobudget full full-nobudget equal equal-nobudget decorr decorr-nobudget grpc grpc-throttle"
array labels[12] = ["fixed 5 ms + budget", "fixed 5 ms no budget", \
                    "exponential + budget", "exponential no budget", \
                    "FULL + budget", "FULL no budget", \
                    "EQUAL + budget", "EQUAL no budget", \
                    "DECORRELATED + budget", "DECORRELATED no budget", \
                    "gRPC retryPolicy", "gRPC + retryThrottling"]
colour(i) = word("#1b9e77 #d95f02 #7570b3 #e7298a #66a61e #000000", (i + 1) / 2)
dash(i) = (i % 2 == 1) ? (i > 10 ? 2 : 1) : (i > 10 ? 1 : 2)
pick(col, i) = (strcol(1) eq word(names, i)) ? column(col) : NaN

# plot_metric: column of the median; min and max follow it.
set output dir . "/work.png"
set title "Herd: total attempts that reached the server (K=5, 10 ms service)"
set ylabel "server arrivals (median, min-max)"
plot for [i=1:12] summary skip 1 using 3:(pick(5, i)):(pick(6, i)):(pick(7, i)) \
     with yerrorlines lw 2 pt 7 ps 0.7 lc rgb colour(i) dt dash(i) title labels[i]

set output dir . "/completion.png"
set title "Herd: time until the last client's call ended (30 s deadline and run cap)"
set ylabel "seconds (median, min-max)"
plot for [i=1:12] summary skip 1 using 3:(pick(8, i)):(pick(9, i)):(pick(10, i)) \
     with yerrorlines lw 2 pt 7 ps 0.7 lc rgb colour(i) dt dash(i) title labels[i]
