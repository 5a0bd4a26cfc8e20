package demo

// Storm is deploy/scenarios/storm-demo.toml, carried in the binary so that
// the demo runs from anywhere; the package's test checks that the two match.
const Storm = `# The demo's storm (safepoint demo, make run): a storm over a village point
# squeezed into about two minutes, timed for the node's power monitor, which
# reads every 5 s on mains or generator and every 30 s on battery. At speed
# 120 a wall second is two simulated minutes:
#
#   wall   0 s  (sim  0)       mains, battery full
#   wall  10 s  (sim 20 min)   mains lost: on battery, discharging
#   wall  40 s  (sim 1 h 20)   the generator starts
#   wall 100 s  (sim 3 h 20)   mains back, generator off; the battery charges
#
# A change counts on the first reading after its hold time (the demo runs
# nodes with --power-hold-ob 1s --power-hold-ol 1s), so each node shows OB
# about 15 s after it starts, GEN about 75 s, OL about 105 s. The demo
# carries a copy of this file (internal/demo/storm.go); its test checks that
# the two are the same.
#
# The battery reports its own charge and time left, like a smart UPS
# (report_percent): at this speed the node's own coulomb counting, which
# integrates only readings at most 10 simulated minutes apart, would get no
# readings to count while on battery. Keys: docs/HARDWARE.md.

name = "storm-demo"
description = "Two-minute demo storm: mains lost at 20 min, generator from 1 h 20 min, mains back at 3 h 20 min (speed 120)."
speed = 120
report_percent = true

# A small 12 V bank, so that an hour on battery shows.
[battery]
chemistry = "lead-acid-12v"
capacity_ah = 40
soc = 1.0
peukert = 1.2

[charger]
amps = 4

# The point's draw at 12 V: router, Pi and lights, then residents' phones.
[[load]]
at = "0s"
amps = 3.0

[[load]]
at = "30m"
amps = 6.0

[[load]]
at = "2h"
amps = 5.0

[[load]]
at = "3h"
amps = 4.0

[[outage]]
lost = "20m"
back = "3h20m"

[generator]
start = "1h20m"
stop = "3h20m"
fuel_l = 10.0
burn_lph = 2.0
`

// Point is one safety point of the demo: a made-up village in a real
// municipality (SCB kommunkod), placed where such a village could be, in
// Ljusdal (2161) or in Hudiksvall (2184), its neighbour to the east, so
// that central has two municipalities to tell apart.
type Point struct {
	ID, Name, Municipality string
	Where, Phone           string  // for the other points' contact pages
	Lat, Lon               float64 // WGS 84
}

// Points are the points the demo can run, in order; Config.Nodes takes
// the first N, and the first three span both municipalities.
var Points = []Point{
	{"byhuset-norrby", "Byhuset i Norrby", "2161", "Byvägen 12, Norrby", "0651-120 01", 61.862, 16.105},
	{"macken-sorby", "Macken i Sörby", "2161", "Riksväg 84, Sörby, 9 km norrut", "0651-120 02", 61.937, 16.031},
	{"skolan-vastby", "Västby skola", "2184", "Skolvägen 4, Västby", "0650-191 03", 61.804, 16.569},
	{"kyrkan-ostby", "Östby församlingshem", "2161", "Kyrkbacken 2, Östby", "0651-120 04", 61.801, 16.210},
	{"brandstationen-vallby", "Brandstationen i Vallby", "2161", "Stationsgatan 5, Vallby", "0651-120 05", 61.774, 16.002},
	{"hembygdsgarden-tuna", "Hembygdsgården i Tuna", "2161", "Gammelgården, Tuna", "0651-120 06", 61.905, 15.948},
	{"idrottshallen-berga", "Idrottshallen i Berga", "2184", "Bergavägen 8, Berga", "0650-191 07", 61.795, 16.588},
	{"folketshus-solberga", "Folkets hus i Solberga", "2161", "Storgatan 21, Solberga", "0651-120 08", 61.842, 16.290},
	{"biblioteket-hagby", "Biblioteket i Hagby", "2184", "Hagbytorget 1, Hagby", "0650-191 09", 61.812, 16.552},
	{"bygdegarden-lunda", "Bygdegården i Lunda", "2161", "Lundavägen 3, Lunda", "0651-120 10", 61.990, 16.120},
}

const openingHours = "Dygnet runt under stormen"

// switchboard is each municipality's switchboard, for the contact page.
var switchboard = map[string]string{"2161": "0651-180 00", "2184": "0650-190 00"}
