# The soak's samples over time, from the data file `enospcd-bench render --soak-plot-data` writes (columns:
# minutes, VmRSS MiB, daemon CPU s, state directory MiB, BPF map MiB).
#   gnuplot -e "datafile='soak.dat'; outfile='soak.png'" soak.gp
set terminal pngcairo size 1100,420 font "DejaVu Sans,10" noenhanced
set output outfile
set grid lc rgb "#dddddd"
set xlabel "minutes into the soak"
set ylabel "MiB"
set y2label "daemon CPU, seconds"
set y2tics
set ytics nomirror
set yrange [0:*]
set y2range [0:*]
set key top left
set title "enospcd during a continuous ENOSPC storm"
plot datafile using 1:2 with lines lw 2 lc rgb "#228833" title "VmRSS", \
     '' using 1:5 with lines lw 2 lc rgb "#4477aa" title "BPF maps", \
     '' using 1:4 with lines lw 1 lc rgb "#aa7744" title "state directory", \
     '' using 1:3 axes x1y2 with lines lw 1 dt 2 lc rgb "#ee6677" title "daemon CPU (right axis)"
