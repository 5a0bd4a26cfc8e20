// Package hwtest holds what the hardware tests share: the I2C
// transactions periph's drivers make, as i2ctest.Playback replays them.
// The worked register values are in each driver's own tests.
package hwtest

import "periph.io/x/conn/v3/i2c/i2ctest"

// U16 is a 16-bit register value as the chips send it, high byte first.
func U16(v uint16) []byte { return []byte{byte(v >> 8), byte(v)} }

// INA219SetUp is what periph's ina219.New writes: the calibration, then
// the configuration 0x1FFF.
func INA219SetUp(addr, cal uint16) []i2ctest.IO {
	return []i2ctest.IO{
		{Addr: addr, W: append([]byte{0x05}, U16(cal)...)},
		{Addr: addr, W: []byte{0x00, 0x1F, 0xFF}},
	}
}

// INA219Sense is what periph's Sense reads: the shunt, bus, current and
// power registers.
func INA219Sense(addr uint16, regs [4]uint16) []i2ctest.IO {
	return []i2ctest.IO{
		{Addr: addr, W: []byte{0x01}, R: U16(regs[0])},
		{Addr: addr, W: []byte{0x02}, R: U16(regs[1])},
		{Addr: addr, W: []byte{0x04}, R: U16(regs[2])},
		{Addr: addr, W: []byte{0x03}, R: U16(regs[3])},
	}
}
