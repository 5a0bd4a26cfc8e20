package broker

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Roles of broker users.
const (
	RoleCentral = "central" // reads every node's uplink, writes acks and downlink
	RoleNode    = "node"    // reads and writes its own subtree only
)

// AllMunicipalities is the municipality field of a central that serves every
// municipality on the broker.
const AllMunicipalities = "*"

// MinPasswordLen is the shortest broker password accepted, in characters.
const MinPasswordLen = 10

// Errors of the users file.
var (
	ErrUserExists      = errors.New("broker: user already exists")
	ErrBadName         = errors.New("broker: a node user is a node id (1 to 40 of a-z, 0-9 and -, not starting with -); a central user is 1 to 64 of A-Z, a-z, 0-9, '.', '_' and '-'")
	ErrBadRole         = errors.New("broker: role must be central or node")
	ErrBadMunicipality = errors.New("broker: municipality must be a 4-digit SCB code (or * for a central serving all)")
	ErrWeakPassword    = fmt.Errorf("broker: password must be %d to 1024 bytes long and at least %d characters", MinPasswordLen, MinPasswordLen)
)

var (
	// The same patterns as sync/wire's topic parser.
	municipalityRE = regexp.MustCompile(`^[0-9]{4}$`)
	nodeRE         = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)
	centralRE      = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
)

// user is one broker account.
type user struct {
	name         string
	role         string
	municipality string // a code, or AllMunicipalities for a central
	hash         string // argon2id PHC string
}

func (u *user) String() string {
	return u.name + " " + u.role + " " + u.municipality + " " + u.hash
}

func checkUser(name, role, municipality string) error {
	switch role {
	case RoleNode:
		if !nodeRE.MatchString(name) {
			return ErrBadName
		}
		if !municipalityRE.MatchString(municipality) {
			return ErrBadMunicipality
		}
	case RoleCentral:
		if !centralRE.MatchString(name) {
			return ErrBadName
		}
		if municipality != AllMunicipalities && !municipalityRE.MatchString(municipality) {
			return ErrBadMunicipality
		}
	default:
		return ErrBadRole
	}
	return nil
}

func checkPassword(p string) error {
	if utf8.RuneCountInString(p) < MinPasswordLen || len(p) > 1024 {
		return ErrWeakPassword
	}
	return nil
}

// Users is the broker's users file: one line per user,
//
//	name role municipality argon2id-hash
//
// separated by spaces; blank lines and lines starting with # are kept as
// they are. Users is not safe for concurrent use.
type Users struct {
	lines []fileLine
	index map[string]int // name → position in lines
}

// fileLine is a user, or a comment or blank line kept verbatim.
type fileLine struct {
	raw  string
	user *user
}

// LoadUsers reads a users file. It refuses the whole file if any line is
// malformed, naming every bad line.
func LoadUsers(path string) (*Users, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("broker: read users: %w", err)
	}
	return parseUsers(path, data)
}

// parseUsers parses the users file at path, which holds data.
func parseUsers(path string, data []byte) (*Users, error) {
	u := &Users{index: map[string]int{}}
	var errs []error
	seen := map[string]int{} // name → line number
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 64*1024)
	n := 0
	for sc.Scan() {
		n++
		text := strings.TrimRight(sc.Text(), "\r")
		trimmed := strings.TrimSpace(text)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			u.lines = append(u.lines, fileLine{raw: text})
			continue
		}
		f := strings.Fields(trimmed)
		if len(f) != 4 {
			errs = append(errs, fmt.Errorf("line %d: want 4 fields (name role municipality hash), have %d", n, len(f)))
			continue
		}
		usr := &user{name: f[0], role: f[1], municipality: f[2], hash: f[3]}
		if err := checkUser(usr.name, usr.role, usr.municipality); err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", n, err))
			continue
		}
		if _, err := parsePHC(usr.hash); err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", n, err))
			continue
		}
		if prev, ok := seen[usr.name]; ok {
			errs = append(errs, fmt.Errorf("line %d: user %q already on line %d", n, usr.name, prev))
			continue
		}
		seen[usr.name] = n
		u.index[usr.name] = len(u.lines)
		u.lines = append(u.lines, fileLine{user: usr})
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("line %d: %w", n+1, err))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("broker: %s: %w", path, errors.Join(errs...))
	}
	return u, nil
}

func (u *Users) lookup(name string) (*user, bool) {
	if u == nil {
		return nil, false
	}
	i, ok := u.index[name]
	if !ok {
		return nil, false
	}
	return u.lines[i].user, true
}

// Len is the number of users.
func (u *Users) Len() int { return len(u.index) }

// Add adds a user with a fresh argon2id hash of password. It refuses a name
// that is already there.
func (u *Users) Add(name, role, municipality, password string) error {
	if err := checkUser(name, role, municipality); err != nil {
		return err
	}
	if _, ok := u.index[name]; ok {
		return fmt.Errorf("%w: %q", ErrUserExists, name)
	}
	usr, err := newUser(name, role, municipality, password)
	if err != nil {
		return err
	}
	u.put(usr)
	return nil
}

func newUser(name, role, municipality, password string) (*user, error) {
	if err := checkUser(name, role, municipality); err != nil {
		return nil, err
	}
	if err := checkPassword(password); err != nil {
		return nil, err
	}
	h, err := hashPassword(password)
	if err != nil {
		return nil, err
	}
	return &user{name: name, role: role, municipality: municipality, hash: h}, nil
}

// put adds usr, or replaces the user of that name in place.
func (u *Users) put(usr *user) {
	if u.index == nil {
		u.index = map[string]int{}
	}
	if i, ok := u.index[usr.name]; ok {
		u.lines[i].user = usr
		return
	}
	u.index[usr.name] = len(u.lines)
	u.lines = append(u.lines, fileLine{user: usr})
}

const usersHeader = "# safepoint broker users: name role municipality argon2id-hash (docs/BROKER.md)"

// Save writes the file atomically (a temporary file renamed over path),
// readable by its owner only. It makes path's directory if needed.
func (u *Users) Save(path string) error {
	var b bytes.Buffer
	if len(u.lines) == 0 || !strings.HasPrefix(u.lines[0].raw, "#") {
		b.WriteString(usersHeader + "\n")
	}
	for _, l := range u.lines {
		if l.user != nil {
			b.WriteString(l.user.String())
		} else {
			b.WriteString(l.raw)
		}
		b.WriteByte('\n')
	}
	return writeAtomic(path, b.Bytes(), 0o700)
}

// WriteNodeEntry sets a node's password in the users file at path, adding
// the node or replacing its line, and creates the file if it does not exist.
// It refuses to turn a central into a node or to move a node to another
// municipality: node ids are unique on a broker, and silently taking over
// another municipality's node would lock that node out.
//
// It is not safe against another process editing the file at the same time.
func WriteNodeEntry(path, node, municipality, password string) error {
	data, err := readOptional(path)
	if err != nil {
		return err
	}
	u, err := parseUsers(path, data)
	if err != nil {
		return err
	}
	if old, ok := u.lookup(node); ok {
		if old.role != RoleNode {
			return fmt.Errorf("broker: %q is a %s user, not a node", node, old.role)
		}
		if old.municipality != municipality {
			return fmt.Errorf("broker: node %q belongs to municipality %s; remove its line first to move it", node, old.municipality)
		}
	}
	usr, err := newUser(node, RoleNode, municipality, password)
	if err != nil {
		return err
	}
	u.put(usr)
	return u.Save(path)
}

// Argon2id parameters: the same as accounts.HashPassword (OWASP's minimum, which
// a Raspberry Pi Zero hashes in well under a second).
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

func hashPassword(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

type phc struct {
	m, t      uint32
	p         uint8
	salt, key []byte
}

var errBadHash = errors.New("hash is not an argon2id PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$key)")

// parsePHC parses an argon2id PHC string, with bounds so that a bad file
// cannot make one login cost gigabytes or minutes.
func parsePHC(s string) (phc, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return phc{}, errBadHash
	}
	var h phc
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return phc{}, errBadHash
	}
	for i, want := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(params[i], want)
		if !ok {
			return phc{}, errBadHash
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			return phc{}, errBadHash
		}
		switch i {
		case 0:
			h.m = uint32(n)
		case 1:
			h.t = uint32(n)
		case 2:
			if n > 255 {
				return phc{}, errBadHash
			}
			h.p = uint8(n)
		}
	}
	if h.m > 256*1024 || h.t > 16 || h.p > 16 {
		return phc{}, fmt.Errorf("argon2id cost too high (m ≤ 262144, t ≤ 16, p ≤ 16): %w", errBadHash)
	}
	b64 := base64.RawStdEncoding
	var err1, err2 error
	h.salt, err1 = b64.DecodeString(parts[4])
	h.key, err2 = b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(h.salt) < 8 || len(h.key) < 16 || len(h.key) > 64 {
		return phc{}, errBadHash
	}
	return h, nil
}

// verifyPassword compares password with an argon2id PHC string in constant
// time.
func verifyPassword(encoded string, password []byte) bool {
	h, err := parsePHC(encoded)
	if err != nil {
		return false
	}
	got := argon2.IDKey(password, h.salt, h.t, h.m, h.p, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(got, h.key) == 1
}

// dummyHash is checked against when a login names no user, so that an
// unknown name costs the same as a wrong password.
var dummyHash = sync.OnceValue(func() string {
	h, err := hashPassword("no user has this password")
	if err != nil {
		panic(err)
	}
	return h
})
