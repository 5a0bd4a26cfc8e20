// Package hat reads the UPS HATs a safety point's Raspberry Pi wears, over
// periph.io's I²C bus and GPIO pin interfaces, so it runs and is tested
// without a Pi:
//
//   - waveshare-ups-b, waveshare-ups-c: an INA219 between the pack and the
//     rest of the board (hardware/shunt): pack volts, current with its sign,
//     state of charge off the chemistry's curve, mains inferred from the
//     current. No power-loss pin.
//   - x728, x1200 (Geekworm): a MAX1704x fuel gauge (hardware/max1704x):
//     the cell's volts and the gauge's state of charge; mains from the
//     board's power-loss pin, GPIO6, whose level means "lost" the opposite
//     way on the two boards.
//
// Where each number and polarity comes from is in docs/HARDWARE.md. Like
// periph.io's drivers it returns errors and never logs: a chip that does
// not answer is an error from Read, never a zero reading.
package hat

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"

	"github.com/safepoint-se/safepoint/hardware/max1704x"
	"github.com/safepoint-se/safepoint/hardware/power"
	"github.com/safepoint-se/safepoint/hardware/shunt"
)

// Board is what this package knows of one board.
type Board struct {
	Name      string // as --power hat:NAME spells it
	Title     string // the maker's name for it
	Chip      string // "ina219" or "max1704x"
	Addr      uint16
	Chemistry power.Chemistry
	// Pin is the power-loss pin ("" for none) and LostLevel its level when
	// mains is gone.
	Pin       string
	LostLevel gpio.Level

	shunt shunt.Opts // for the INA219 boards
}

// The chips.
const (
	ChipINA219   = "ina219"
	ChipMAX1704x = "max1704x"
)

var boards = []Board{
	{Name: "waveshare-ups-b", Title: "Waveshare UPS HAT (B)", Chip: ChipINA219, Addr: 0x42, Chemistry: power.LiIon2S,
		shunt: shunt.Opts{Addr: 0x42, Ohms: 0.1, MaxAmps: 3.2, Chemistry: power.LiIon2S, ChargePositive: true}},
	{Name: "waveshare-ups-c", Title: "Waveshare UPS HAT (C)", Chip: ChipINA219, Addr: 0x43, Chemistry: power.LiIon1S,
		shunt: shunt.Opts{Addr: 0x43, Ohms: 0.01, MaxAmps: 5, Chemistry: power.LiIon1S, ChargePositive: true}},
	{Name: "x1200", Title: "Geekworm X1200", Chip: ChipMAX1704x, Addr: max1704x.DefaultAddr, Chemistry: power.LiIon1S,
		Pin: "GPIO6", LostLevel: gpio.Low},
	{Name: "x728", Title: "Geekworm X728", Chip: ChipMAX1704x, Addr: max1704x.DefaultAddr, Chemistry: power.LiIon1S,
		Pin: "GPIO6", LostLevel: gpio.High},
}

// Boards lists the boards, by name.
func Boards() []Board { return slices.Clone(boards) }

// Names is the boards' names, for help and errors.
func Names() []string {
	var out []string
	for _, b := range boards {
		out = append(out, b.Name)
	}
	return out
}

// Lookup finds a board by name.
func Lookup(name string) (Board, bool) {
	i := slices.IndexFunc(boards, func(b Board) bool { return b.Name == name })
	if i < 0 {
		return Board{}, false
	}
	return boards[i], true
}

// Source reads one board.
type Source struct {
	board Board
	bus   i2c.Bus
	pin   gpio.PinIn
	shunt *shunt.Source // the INA219 boards

	mu    sync.Mutex
	gauge *max1704x.Dev // nil until it answers, and again after a failure
}

// Open returns a source for the named board on bus. pin is the board's
// power-loss pin, nil for boards without one; Open sets it as an input,
// leaving its pull as the board has it (as the makers' scripts do). The
// chips are not touched until the first Read, and a Read after a failure
// tries them afresh, so a board seated again is read again.
func Open(bus i2c.Bus, pin gpio.PinIn, board string) (*Source, error) {
	b, ok := Lookup(board)
	if !ok {
		return nil, fmt.Errorf("hat %q: not a board this program knows; one of %s", board, strings.Join(Names(), ", "))
	}
	if bus == nil {
		return nil, fmt.Errorf("hat %s: no I²C bus", b.Name)
	}
	s := &Source{board: b, bus: bus}
	switch {
	case b.Pin == "" && pin != nil:
		return nil, fmt.Errorf("hat %s: the board has no power-loss pin, but %s was given", b.Name, pin)
	case b.Pin != "" && pin == nil:
		return nil, fmt.Errorf("hat %s: mains is read from its power-loss pin %s, and none was given", b.Name, b.Pin)
	case pin != nil:
		if err := pin.In(gpio.PullNoChange, gpio.NoEdge); err != nil {
			return nil, fmt.Errorf("hat %s: power-loss pin %s: %w", b.Name, pin, err)
		}
		s.pin = pin
	}
	if b.Chip == ChipINA219 {
		sh, err := shunt.New(bus, &b.shunt)
		if err != nil {
			return nil, fmt.Errorf("hat %s: %w", b.Name, err)
		}
		s.shunt = sh
	}
	return s, nil
}

// Board is the board read.
func (s *Source) Board() Board { return s.board }

// Read takes one reading of the board.
func (s *Source) Read(ctx context.Context) (power.Reading, error) {
	if s.shunt != nil {
		r, err := s.shunt.Read(ctx)
		if err != nil {
			return power.Reading{}, fmt.Errorf("hat %s: %w", s.board.Name, err)
		}
		return r, nil
	}
	if err := ctx.Err(); err != nil {
		return power.Reading{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gauge == nil {
		g, err := max1704x.New(s.bus, &max1704x.Opts{Addr: s.board.Addr})
		if err != nil {
			return power.Reading{}, fmt.Errorf("hat %s: %w", s.board.Name, err)
		}
		s.gauge = g
	}
	g, err := s.gauge.Sense()
	if err != nil {
		s.gauge = nil
		return power.Reading{}, fmt.Errorf("hat %s: %w", s.board.Name, err)
	}
	r := power.Unknown(time.Now())
	r.Volts, r.Percent = g.Volts, g.Percent
	// The gauge cannot tell charging from discharging and gives no
	// current; mains is the pin's.
	r.OnMains = s.pin.Read() != s.board.LostLevel
	return r, nil
}

// Found is a chip that answered at an address a known board uses.
type Found struct {
	Addr   uint16
	Chip   string
	Detail string   // "version 0x0002"
	Boards []string // the boards with this chip at this address
}

// Scan looks for the known boards' chips on bus: a MAX1704x at 0x36 and an
// INA219 at 0x40–0x43. It only reads (a register address, then two bytes),
// and only at those addresses: no blind probing of the bus.
func Scan(bus i2c.Bus) []Found {
	var out []Found
	if g, err := max1704x.New(bus, nil); err == nil {
		out = append(out, Found{Addr: max1704x.DefaultAddr, Chip: ChipMAX1704x,
			Detail: fmt.Sprintf("version %#04x", g.Version()), Boards: boardsAt(ChipMAX1704x, max1704x.DefaultAddr)})
	}
	for addr := uint16(0x40); addr <= 0x43; addr++ {
		var b [2]byte
		d := i2c.Dev{Bus: bus, Addr: addr}
		if err := d.Tx([]byte{0x00}, b[:]); err != nil || (b[0] == 0xff && b[1] == 0xff) {
			continue
		}
		out = append(out, Found{Addr: addr, Chip: ChipINA219,
			Detail: fmt.Sprintf("configuration %#04x", uint16(b[0])<<8|uint16(b[1])), Boards: boardsAt(ChipINA219, addr)})
	}
	return out
}

func boardsAt(chip string, addr uint16) []string {
	var out []string
	for _, b := range boards {
		if b.Chip == chip && b.Addr == addr {
			out = append(out, b.Name)
		}
	}
	return out
}
