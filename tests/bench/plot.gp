# ns per syscall per configuration, from the data file `enospcd-bench render --plot-data` writes (index 0: getppid
# loop, 1: tar, 2: getppid loop on CPU 0; columns: label, median, p25, p75, colour, overhead median, p25, p75).
#   gnuplot -e "datafile='hotpath.dat'; outfile='hotpath.png'" plot.gp
set terminal pngcairo size 1300,860 font "DejaVu Sans,10" noenhanced
set output outfile
set multiplot layout 2,2 title "Hot path: median over rounds, whiskers = interquartile range; lower is better"
set style fill solid 0.85 border -1
set boxwidth 0.7
set grid ytics lc rgb "#dddddd"
set xtics rotate by -30 left nomirror
set ytics nomirror
set key off
set bmargin 6
set xzeroaxis lt -1
set yrange [0:*]
set title "getppid() loop: ns per syscall"
plot datafile index 0 using 0:2:5:xtic(1) with boxes lc rgb variable, \
     '' index 0 using 0:3:(0):($4-$3) with vectors heads size 0.08,90 lc rgb "black", \
     '' index 0 using 0:4:(sprintf("%.1f", $2)) with labels offset 0,0.7 font ",8"
set title "getppid() loop: ns per syscall above no tracer"
plot datafile index 0 using 0:6:5:xtic(1) with boxes lc rgb variable, \
     '' index 0 using 0:7:(0):($8-$7) with vectors heads size 0.08,90 lc rgb "black", \
     '' index 0 using 0:8:($0 == 0 ? "" : sprintf("%.1f", $6)) with labels offset 0,0.7 font ",8"
set title "getppid() loop on CPU 0 (where bpftrace's perf event is): ns per syscall above no tracer"
plot datafile index 2 using 0:6:5:xtic(1) with boxes lc rgb variable, \
     '' index 2 using 0:7:(0):($8-$7) with vectors heads size 0.08,90 lc rgb "black", \
     '' index 2 using 0:8:($0 == 0 ? "" : sprintf("%.1f", $6)) with labels offset 0,0.7 font ",8"
set yrange [*:*]
set title "tar -x of small files onto tmpfs: ns per syscall above no tracer (noisy)"
plot datafile index 1 using 0:6:5:xtic(1) with boxes lc rgb variable, \
     '' index 1 using 0:7:(0):($8-$7) with vectors heads size 0.08,90 lc rgb "black", \
     '' index 1 using 0:($8 > $6 ? $8 : $6):($0 == 0 ? "" : sprintf("%.0f", $6)) with labels offset 0,0.7 font ",8"
unset multiplot
