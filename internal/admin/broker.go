package admin

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/safepoint-se/safepoint/sync/broker"
)

// BrokerUser is a node or a central to add to the MQTT broker's users
// (docs/BROKER.md): to Mosquitto's password and ACL files in Out, or to
// the embedded broker's users file of central's data directory Embedded.
type BrokerUser struct {
	Name         string // a node's id, or a central's user name
	Role         string // broker.RoleNode or broker.RoleCentral
	Municipality string // a node's code; a central's code, or broker.AllMunicipalities
	PasswordFile string // where the password is; "": standard input
	Out          string // Mosquitto's directory, when Embedded is ""
	Embedded     string // central's data directory
	Replace      bool   // replace the user's password (and ACL block) if it exists
}

// AddBrokerUser adds u. Its name and code are checked before the password
// is read: from u.PasswordFile, else from stdin, asked twice on a terminal
// (prompt is where), otherwise its first line.
func AddBrokerUser(u BrokerUser, stdin io.Reader, stdout, prompt io.Writer) error {
	if _, err := broker.MosquittoACL(u.Name, u.Role, u.Municipality); err != nil {
		what := "--node"
		if u.Role == broker.RoleCentral {
			what = "--central"
		}
		if errors.Is(err, broker.ErrBadMunicipality) {
			return fmt.Errorf("--municipality %q: %w", u.Municipality, err)
		}
		return fmt.Errorf("%s %q: %w", what, u.Name, err)
	}

	password, err := readBrokerPassword(u.PasswordFile, stdin, prompt)
	if err != nil {
		return err
	}
	who := fmt.Sprintf("%s %s of municipality %s", u.Role, u.Name, u.Municipality)
	if u.Municipality == broker.AllMunicipalities {
		who = fmt.Sprintf("%s %s of every municipality", u.Role, u.Name)
	}

	if u.Embedded != "" {
		path := filepath.Join(u.Embedded, "broker", "users")
		if err := addEmbeddedUser(path, u, password); err != nil {
			return err
		}
		if err := ownLikeData(u.Embedded, filepath.Dir(path), path); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Wrote %s to %s; the embedded broker reads it at the next connection.\n", who, path)
		return nil
	}

	files := broker.MosquittoFilesIn(u.Out)
	_, statErr := os.Stat(files.Passwd)
	if err := files.Add(u.Name, u.Role, u.Municipality, password, u.Replace); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Wrote %s to %s and %s.\nReload mosquitto to use them: systemctl reload mosquitto (or send it SIGHUP).\n",
		who, files.Passwd, files.ACL)
	if errors.Is(statErr, fs.ErrNotExist) {
		fmt.Fprintf(stdout, "New files, mode 0600: Mosquitto reads them as the mosquitto user, so on Debian\n"+
			"  chown root:mosquitto %s %s && chmod 0640 %s %s\n(later runs keep the owner and mode).\n",
			files.Passwd, files.ACL, files.Passwd, files.ACL)
	}
	return nil
}

// readBrokerPassword reads the password from a file (trimmed of its final
// line break, as the node reads --mqtt-password-file), or from stdin.
func readBrokerPassword(file string, stdin io.Reader, prompt io.Writer) (string, error) {
	var pw string
	switch _, tty := terminal(stdin); {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--password-file: %w", err)
		}
		pw = strings.TrimRight(string(b), "\r\n")
	case tty:
		return readNewPassword(stdin, prompt)
	default:
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("password: %w", err)
		}
		pw = strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", errors.New("password: none on standard input (or give --password-file)")
		}
	}
	if len([]rune(pw)) < broker.MinPasswordLen {
		return "", broker.ErrWeakPassword
	}
	return pw, nil
}

// addEmbeddedUser adds a user to the embedded broker's users file. With
// Replace, a node's password is set whether or not it is there
// (broker.WriteNodeEntry, which refuses to move a node to another
// municipality).
func addEmbeddedUser(path string, u BrokerUser, password string) error {
	if u.Replace {
		if u.Role != broker.RoleNode {
			return fmt.Errorf("--replace of a central in %s: delete its line there, then add it again", path)
		}
		return broker.WriteNodeEntry(path, u.Name, u.Municipality, password)
	}
	users, err := broker.LoadUsers(path)
	if errors.Is(err, fs.ErrNotExist) {
		users, err = &broker.Users{}, nil
	}
	if err != nil {
		return err
	}
	if err := users.Add(u.Name, u.Role, u.Municipality, password); err != nil {
		if errors.Is(err, broker.ErrUserExists) {
			return fmt.Errorf("%w in %s (use --replace to set a new password)", err, path)
		}
		return err
	}
	return users.Save(path)
}

// ownLikeData gives paths to the owner of the data directory when root
// writes them: central runs as that user and must read its users file.
func ownLikeData(data string, paths ...string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(data)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return nil
	}
	for _, p := range paths {
		if err := os.Chown(p, int(st.Uid), int(st.Gid)); err != nil {
			return fmt.Errorf("give %s to the owner of %s: %w", p, data, err)
		}
	}
	return nil
}
