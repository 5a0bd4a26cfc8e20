// Package admin is what safepoint's administration commands do once their
// flags are parsed: staff accounts in a node's data directory (`safepoint
// user`) and users of the MQTT broker (`safepoint broker-config`). Each
// function takes its input and output as an io.Reader and io.Writers, so
// that the flags and the process's files stay in cmd/safepoint.
package admin

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/safepoint-se/safepoint/node/accounts"
	"golang.org/x/term"
)

// readNewPassword asks twice. From a terminal it prompts without echo;
// otherwise it reads two lines.
func readNewPassword(stdin io.Reader, prompt io.Writer) (string, error) {
	var first, second string
	if f, ok := terminal(stdin); ok {
		ask := func(label string) (string, error) {
			fmt.Fprint(prompt, label)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(prompt)
			return string(b), err
		}
		var err error
		if first, err = ask("Password: "); err != nil {
			return "", err
		}
		if second, err = ask("Again: "); err != nil {
			return "", err
		}
	} else {
		sc := bufio.NewScanner(stdin)
		lines := make([]string, 0, 2)
		for len(lines) < 2 && sc.Scan() {
			lines = append(lines, strings.TrimRight(sc.Text(), "\r"))
		}
		if err := sc.Err(); err != nil {
			return "", err
		}
		if len(lines) < 2 {
			return "", errors.New("password: give it twice, on two lines of standard input")
		}
		first, second = lines[0], lines[1]
	}
	if first != second {
		return "", errors.New("password: the two entries differ")
	}
	if len([]rune(first)) < accounts.MinPasswordLen {
		return "", accounts.ErrWeakPassword
	}
	return first, nil
}

// terminal is r as a terminal, if it is one.
func terminal(r io.Reader) (*os.File, bool) {
	f, ok := r.(*os.File)
	return f, ok && term.IsTerminal(int(f.Fd()))
}
