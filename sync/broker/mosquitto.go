package broker

import (
	"bufio"
	"bytes"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// The production broker is Mosquitto 2.0 (docs/BROKER.md, deploy/mosquitto).
// Its users live in two files, both managed here for `safepoint
// broker-config`: the password file (mosquitto_passwd's format) and the ACL
// file, with one block per user that pins a node to its own subtree.

// Mosquitto 2.0's password hash, as mosquitto_passwd writes it:
// user:$7$101$<base64 salt>$<base64 key>, PBKDF2-HMAC-SHA512 with a 12-byte
// salt and a 64-byte key, standard base64 with padding.
const (
	mosquittoHashID     = "7"
	mosquittoIterations = 101
	mosquittoSaltLen    = 12
	mosquittoKeyLen     = sha512.Size
)

// MosquittoHash hashes password as mosquitto_passwd (2.0) does, for a line
// "name:" + hash of a Mosquitto password file.
func MosquittoHash(password string) (string, error) {
	if err := checkPassword(password); err != nil {
		return "", err
	}
	if strings.ContainsRune(password, 0) {
		// Mosquitto hashes the password as a C string: it would stop there.
		return "", fmt.Errorf("%w: no NUL characters", ErrWeakPassword)
	}
	salt := make([]byte, mosquittoSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	return mosquittoHashWith(password, salt, mosquittoIterations)
}

func mosquittoHashWith(password string, salt []byte, iterations int) (string, error) {
	key, err := pbkdf2.Key(sha512.New, password, salt, iterations, mosquittoKeyLen)
	if err != nil {
		return "", err
	}
	b64 := base64.StdEncoding
	return fmt.Sprintf("$%s$%d$%s$%s", mosquittoHashID, iterations,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyMosquittoHash reports whether password matches a "$7$" hash of a
// Mosquitto password file, comparing in constant time. It exists to check
// this package against mosquitto_passwd; the broker itself is Mosquitto.
func VerifyMosquittoHash(encoded, password string) bool {
	p := strings.Split(encoded, "$")
	if len(p) != 5 || p[0] != "" || p[1] != mosquittoHashID {
		return false
	}
	iter, err := strconv.Atoi(p[2])
	if err != nil || iter < 1 || iter > 1_000_000 {
		return false
	}
	salt, err1 := base64.StdEncoding.DecodeString(p[3])
	key, err2 := base64.StdEncoding.DecodeString(p[4])
	if err1 != nil || err2 != nil || len(salt) == 0 || len(key) != mosquittoKeyLen {
		return false
	}
	got, err := pbkdf2.Key(sha512.New, password, salt, iter, mosquittoKeyLen)
	return err == nil && subtle.ConstantTimeCompare(got, key) == 1
}

// MosquittoACL is the ACL file block of one user: a node's own topics, or a
// central's (every municipality for AllMunicipalities, else one). Each
// topic is written out, so the block pins a node to its municipality as
// well as to its id, which a "pattern" line with %u cannot.
func MosquittoACL(name, role, municipality string) (string, error) {
	if err := checkUser(name, role, municipality); err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "user %s\n", name)
	switch role {
	case RoleNode:
		fmt.Fprintf(&b, "# node of municipality %s (safepoint broker-config)\n", municipality)
		for _, l := range []struct{ access, kind string }{
			{"write", kindUp}, {"write", kindStatus}, {"write", kindDownAck},
			{"read", kindAck}, {"read", kindDown},
		} {
			fmt.Fprintf(&b, "topic %s sp/v1/%s/%s/%s\n", l.access, municipality, name, l.kind)
		}
	case RoleCentral:
		m := municipality
		if m == AllMunicipalities {
			m = "+"
			b.WriteString("# central of every municipality (safepoint broker-config)\n")
			b.WriteString("topic read sp/v1/#\n")
		} else {
			fmt.Fprintf(&b, "# central of municipality %s (safepoint broker-config)\n", m)
			fmt.Fprintf(&b, "topic read sp/v1/%s/#\n", m)
		}
		fmt.Fprintf(&b, "topic write sp/v1/%s/+/%s\n", m, kindAck)
		fmt.Fprintf(&b, "topic write sp/v1/%s/+/%s\n", m, kindDown)
	}
	return b.String(), nil
}

// MosquittoFiles are a Mosquitto password file and ACL file
// (password_file and acl_file in mosquitto.conf).
type MosquittoFiles struct {
	Passwd string
	ACL    string
}

// MosquittoFilesIn is DIR/passwd and DIR/acl.
func MosquittoFilesIn(dir string) MosquittoFiles {
	return MosquittoFiles{Passwd: filepath.Join(dir, "passwd"), ACL: filepath.Join(dir, "acl")}
}

// ErrMosquittoFile reports a password or ACL file this package will not
// edit.
var ErrMosquittoFile = errors.New("broker: mosquitto file")

// Add sets a user's password line and ACL block, creating either file if
// it does not exist. Without replace it refuses a name that is in either
// file already; with it, it replaces the user's password and block. The ACL
// file is written first: a block without a password lets nobody in.
//
// Each file is replaced atomically, keeping an existing file's mode, owner
// and group (Mosquitto reads them after dropping root, as user mosquitto); a
// new one is made with mode 0600. Other lines, comments and users are kept
// as they are. It is not safe against another process editing the files at
// the same time. Mosquitto reads the new files on SIGHUP.
func (f MosquittoFiles) Add(name, role, municipality, password string, replace bool) error {
	block, err := MosquittoACL(name, role, municipality)
	if err != nil {
		return err
	}
	hash, err := MosquittoHash(password)
	if err != nil {
		return err
	}
	pw, err := readOptional(f.Passwd)
	if err != nil {
		return err
	}
	acl, err := readOptional(f.ACL)
	if err != nil {
		return err
	}
	pwLines, pwAt, err := findPasswdUser(pw, name)
	if err != nil {
		return fmt.Errorf("%w %s: %v", ErrMosquittoFile, f.Passwd, err)
	}
	aclLines, start, end, err := findACLUser(acl, name)
	if err != nil {
		return fmt.Errorf("%w %s: %v", ErrMosquittoFile, f.ACL, err)
	}
	if !replace {
		switch {
		case pwAt >= 0:
			return fmt.Errorf("%w: %q is in %s (use --replace to set a new password)", ErrUserExists, name, f.Passwd)
		case start >= 0:
			return fmt.Errorf("%w: %q has a block in %s (use --replace to write it anew)", ErrUserExists, name, f.ACL)
		}
	}

	// The ACL file.
	blockLines := strings.Split(strings.TrimSuffix(block, "\n"), "\n")
	if start >= 0 {
		aclLines = append(aclLines[:start], append(blockLines, aclLines[end:]...)...)
	} else {
		if len(aclLines) == 0 {
			aclLines = append(aclLines, strings.Split(mosquittoACLHeader, "\n")...)
		}
		if n := len(aclLines); n > 0 && strings.TrimSpace(aclLines[n-1]) != "" {
			aclLines = append(aclLines, "")
		}
		aclLines = append(aclLines, blockLines...)
	}
	if err := writeAtomic(f.ACL, joinLines(aclLines), 0o755); err != nil {
		return err
	}

	// The password file.
	line := name + ":" + hash
	if pwAt >= 0 {
		pwLines[pwAt] = line
	} else {
		pwLines = append(pwLines, line)
	}
	return writeAtomic(f.Passwd, joinLines(pwLines), 0o755)
}

const mosquittoACLHeader = `# Mosquitto ACL for Safepoint (docs/BROKER.md). Users are added with
#   safepoint broker-config --node ID --municipality CODE --out DIR
# which writes one block per user below; reload mosquitto (SIGHUP) after.`

// readOptional reads a file; a missing one is empty.
func readOptional(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	return b, nil
}

func splitLines(data []byte) []string {
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, strings.TrimRight(sc.Text(), "\r"))
	}
	return lines
}

func joinLines(lines []string) []byte {
	if len(lines) == 0 {
		return nil
	}
	return []byte(strings.Join(lines, "\n") + "\n")
}

// findPasswdUser splits a password file into lines and finds name's line
// (-1 if none). Mosquitto skips blank lines and lines starting with #.
func findPasswdUser(data []byte, name string) ([]string, int, error) {
	lines := splitLines(data)
	at := -1
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		u, _, _ := strings.Cut(t, ":")
		if u != name {
			continue
		}
		if at >= 0 {
			return nil, -1, fmt.Errorf("user %q on lines %d and %d", name, at+1, i+1)
		}
		at = i
	}
	return lines, at, nil
}

// findACLUser splits an ACL file into lines and finds name's block: from
// its "user" line to its last "topic" line before the next "user" line, so
// that comments, blank lines and (global) "pattern" lines after it stay. start is -1 if there is no block. Two blocks of one user are an error:
// replacing one would leave the other's rules in force.
func findACLUser(data []byte, name string) (lines []string, start, end int, err error) {
	lines = splitLines(data)
	start, end = -1, -1
	in := false
	for i, l := range lines {
		t := strings.TrimSpace(l)
		kw, rest, _ := strings.Cut(t, " ")
		if kw == "user" {
			in = strings.TrimSpace(rest) == name
			if in && start >= 0 {
				return nil, -1, -1, fmt.Errorf("user %q has blocks on lines %d and %d", name, start+1, i+1)
			}
			if in {
				start, end = i, i+1
			}
			continue
		}
		if in && kw == "topic" {
			end = i + 1
		}
	}
	return lines, start, end, nil
}

// writeAtomic replaces path atomically (a temporary file synced and renamed
// over it, then the directory synced) with data. An existing file keeps
// its mode, owner and group; a new one gets mode 0600, and a missing
// directory is made with dirMode.
func writeAtomic(path string, data []byte, dirMode fs.FileMode) (err error) {
	mode := fs.FileMode(0o600)
	uid, gid := -1, -1
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(st.Uid), int(st.Gid)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("broker: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(mode); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	if uid >= 0 {
		if err := f.Chown(uid, gid); err != nil {
			return fmt.Errorf("broker: keep the owner of %s (uid %d, gid %d): %w", path, uid, gid, err)
		}
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
