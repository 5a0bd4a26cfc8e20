package hat

import (
	"slices"
	"strings"
	"testing"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/i2c/i2ctest"
)

func TestOpenRefuses(t *testing.T) {
	bus := &i2ctest.Playback{DontPanic: true}
	pin := &gpiotest.Pin{N: "GPIO6", Num: 6}
	for _, tt := range []struct {
		board string
		pin   gpio.PinIn
		want  string
	}{
		{"pijuice", nil, `hat "pijuice": not a board this program knows; one of waveshare-ups-b, waveshare-ups-c, x1200, x728`},
		{"x728", nil, "power-loss pin GPIO6, and none was given"},
		{"waveshare-ups-b", pin, "has no power-loss pin"},
		{"x1200", gpio.INVALID, "power-loss pin INVALID"},
	} {
		_, err := Open(bus, tt.pin, tt.board)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want it to say %q", tt.board, err, tt.want)
		}
	}
	if _, err := Open(nil, nil, "waveshare-ups-c"); err == nil {
		t.Error("no bus: no error")
	}
}

func TestScan(t *testing.T) {
	bus := &i2ctest.Playback{DontPanic: true, Ops: []i2ctest.IO{
		{Addr: 0x36, W: []byte{0x08}, R: []byte{0x00, 0x02}},
		{Addr: 0x42, W: []byte{0x00}, R: []byte{0x39, 0x9F}}, // the INA219's power-on configuration
	}}
	found := Scan(bus)
	if len(found) != 2 || found[0].Addr != 0x36 || found[1].Addr != 0x42 ||
		!slices.Equal(found[0].Boards, []string{"x1200", "x728"}) || !slices.Equal(found[1].Boards, []string{"waveshare-ups-b"}) ||
		found[1].Detail != "configuration 0x399f" {
		t.Errorf("scan found %+v", found)
	}
	if found := Scan(&i2ctest.Playback{DontPanic: true}); len(found) != 0 {
		t.Errorf("an empty bus: found %+v", found)
	}
}
