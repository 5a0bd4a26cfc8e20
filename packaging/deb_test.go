//go:build linux

package packaging

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/BurntSushi/toml"
)

// root is the repository, from this package's directory.
const root = ".."

// wantFiles are the package's files with their modes, as dpkg-deb -c lists
// them, and where each comes from in the repository ("" for the binary).
var wantFiles = map[string]struct{ mode, src string }{
	"./usr/bin/safepoint":                            {"-rwxr-xr-x", ""},
	"./lib/systemd/system/safepoint-node.service":    {"-rw-r--r--", "deploy/systemd/safepoint-node.service"},
	"./lib/systemd/system/safepoint-central.service": {"-rw-r--r--", "deploy/systemd/safepoint-central.service"},
	"./etc/safepoint/node.toml":                      {"-rw-r--r--", "deploy/config/node.toml"},
	"./etc/safepoint/central.toml":                   {"-rw-r--r--", "deploy/config/central.toml"},
	"./usr/share/doc/safepoint/INSTALL.md":           {"-rw-r--r--", "docs/INSTALL.md"},
	"./usr/share/doc/safepoint/README.md":            {"-rw-r--r--", "README.md"},
}

var wantConffiles = []string{"/etc/safepoint/central.toml", "/etc/safepoint/node.toml"}

// needPeer skips a test whose tool is missing, loudly, or fails it when
// REQUIRE_PEERS=1 says the tool must be there (CI).
func needPeer(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("REQUIRE_PEERS") == "1" {
		t.Fatalf("%s, and REQUIRE_PEERS=1", what)
	}
	t.Skip("SKIP: " + what)
}

func needDpkg(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"dpkg", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			needPeer(t, "dpkg not installed ("+tool+" missing)")
		}
	}
}

// debArch is this machine's Debian architecture: the test runs the binary
// it packs.
func debArch(t testing.TB) string {
	switch runtime.GOARCH {
	case "amd64", "arm64":
		return runtime.GOARCH
	case "arm":
		return "armhf"
	}
	t.Skipf("SKIP: make deb builds no package for %s", runtime.GOARCH)
	return ""
}

// command runs name in dir with env added, and returns its combined output;
// a failure fails the test.
func command(t testing.TB, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestDebVersion(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		needPeer(t, "git not installed")
	}
	when := `[0-9]{14}`
	tests := []struct{ describe, want string }{
		{"v1.2.3", `1\.2\.3`},
		{"1.2.3", `1\.2\.3`},
		{"v1.2.3-rc1", `1\.2\.3~rc1`},
		{"v1.2.3-4-gabc1234", `1\.2\.3\+git` + when + `\.abc1234`},
		{"v1.2.3-4-gabc1234-dirty", `1\.2\.3\+git` + when + `\.abc1234\+dirty`},
		{"abc1234", `0\.0~git` + when + `\.abc1234`},
		{"abc1234-dirty", `0\.0~git` + when + `\.abc1234\+dirty`},
	}
	got := map[string]string{}
	for _, tt := range tests {
		v := strings.TrimSpace(command(t, root, nil, "scripts/deb.sh", "version", tt.describe))
		if !regexp.MustCompile(`^` + tt.want + `$`).MatchString(v) {
			t.Errorf("version of %q = %q, want %s", tt.describe, v, tt.want)
		}
		got[tt.describe] = v
	}
	if _, err := exec.LookPath("dpkg"); err != nil {
		return
	}
	// Each later state of the tree must be a newer package.
	order := []string{"abc1234", "abc1234-dirty", "v1.2.3-rc1", "v1.2.3", "v1.2.3-4-gabc1234", "v1.2.3-4-gabc1234-dirty"}
	for i := 1; i < len(order); i++ {
		a, b := got[order[i-1]], got[order[i]]
		if err := exec.Command("dpkg", "--compare-versions", a, "lt", b).Run(); err != nil {
			t.Errorf("dpkg: %s is not before %s (%s, %s)", a, b, order[i-1], order[i])
		}
	}
}

// buildDeb runs scripts/deb.sh for one arch and version into dist and
// returns the package's path. env adds DEB_BIN, NFPM_CONFIG.
func buildDeb(t testing.TB, dist, arch, version string, env ...string) string {
	t.Helper()
	env = append(env, "DIST="+dist, "DEB_ARCHES="+arch, "DEB_VERSION="+version)
	command(t, root, env, "scripts/deb.sh")
	return filepath.Join(dist, "safepoint_"+version+"_"+arch+".deb")
}

// deb is a package as dpkg-deb reads it back.
type deb struct {
	fields    map[string]string // dpkg-deb -f
	list      map[string]string // dpkg-deb -c: path → "mode owner/group"
	conffiles []string          // dpkg-deb -I DEB conffiles
	control   map[string]file   // --ctrl-tarfile: name → file
	data      string            // --fsys-tarfile, unpacked here
}

type file struct {
	mode os.FileMode
	body []byte
}

func readDeb(t testing.TB, path string) *deb {
	t.Helper()
	d := &deb{fields: map[string]string{}, list: map[string]string{}, control: map[string]file{}, data: t.TempDir()}
	var key string
	for _, line := range strings.Split(command(t, "", nil, "dpkg-deb", "-f", path), "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok && !strings.HasPrefix(line, " ") {
			key = k
			d.fields[k] = v
		} else if key != "" && line != "" {
			d.fields[key] += "\n" + line
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(command(t, "", nil, "dpkg-deb", "-c", path)), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			t.Fatalf("dpkg-deb -c: %q", line)
		}
		d.list[f[5]] = f[0] + " " + f[1]
	}
	d.conffiles = strings.Fields(command(t, "", nil, "dpkg-deb", "-I", path, "conffiles"))
	untar(t, command(t, "", nil, "dpkg-deb", "--ctrl-tarfile", path), func(h *tar.Header, body []byte) {
		d.control[strings.TrimPrefix(h.Name, "./")] = file{h.FileInfo().Mode(), body}
	})
	untar(t, command(t, "", nil, "dpkg-deb", "--fsys-tarfile", path), func(h *tar.Header, body []byte) {
		if h.Typeflag != tar.TypeReg {
			return
		}
		dst := filepath.Join(d.data, h.Name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, body, h.FileInfo().Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	})
	return d
}

func untar(t testing.TB, archive string, each func(*tar.Header, []byte)) {
	t.Helper()
	tr := tar.NewReader(strings.NewReader(archive))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("tar: %v", err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("tar %s: %v", h.Name, err)
		}
		each(h, body)
	}
}

func TestDeb(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: -short: TestDeb builds the package, then installs, upgrades and purges it")
	}
	needDpkg(t)
	arch := debArch(t)
	dist := t.TempDir()
	first := buildDeb(t, dist, arch, "1.0.0")
	pkg := readDeb(t, first)

	t.Run("Contents", func(t *testing.T) { checkContents(t, pkg, arch) })
	t.Run("Config", func(t *testing.T) { checkConfig(t, pkg) })
	t.Run("Install", func(t *testing.T) {
		bin := filepath.Join(dist, map[string]string{"amd64": "safepoint-linux-amd64",
			"arm64": "safepoint-linux-arm64", "armhf": "safepoint-linux-armv6"}[arch])
		checkInstall(t, dist, arch, first, bin)
	})
}

func checkContents(t *testing.T, pkg *deb, arch string) {
	for k, want := range map[string]string{"Package": "safepoint", "Version": "1.0.0",
		"Architecture": arch, "Depends": "adduser"} {
		if got := pkg.fields[k]; got != want {
			t.Errorf("control %s = %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"Maintainer", "Description", "Section", "Priority", "Installed-Size"} {
		if pkg.fields[k] == "" {
			t.Errorf("control has no %s", k)
		}
	}

	var files []string
	for path, entry := range pkg.list {
		if strings.HasSuffix(path, "/") {
			continue
		}
		files = append(files, path)
		want, ok := wantFiles[path]
		if !ok {
			t.Errorf("unexpected file in the package: %s", path)
			continue
		}
		if entry != want.mode+" root/root" {
			t.Errorf("%s: %s, want %s root/root", path, entry, want.mode)
		}
		if want.src == "" {
			continue
		}
		src, err := os.ReadFile(filepath.Join(root, want.src))
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(filepath.Join(pkg.data, path)); !bytes.Equal(got, src) {
			t.Errorf("%s is not %s", path, want.src)
		}
	}
	for path := range wantFiles {
		if _, ok := pkg.list[path]; !ok {
			t.Errorf("the package has no %s", path)
		}
	}
	if t.Failed() {
		slices.Sort(files)
		t.Logf("the package's files:\n%s", strings.Join(files, "\n"))
	}

	if !slices.Equal(pkg.conffiles, wantConffiles) {
		t.Errorf("conffiles = %q, want %q", pkg.conffiles, wantConffiles)
	}
	for _, name := range []string{"postinst", "prerm", "postrm"} {
		f, ok := pkg.control[name]
		if !ok {
			t.Errorf("no %s in the control archive", name)
			continue
		}
		if f.mode.Perm() != 0o755 {
			t.Errorf("%s: mode %v, want 0755", name, f.mode)
		}
		src, err := os.ReadFile(filepath.Join(root, "packaging", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f.body, src) {
			t.Errorf("the control archive's %s is not packaging/%s", name, name)
		}
	}
	if out, err := exec.Command(filepath.Join(pkg.data, "usr/bin/safepoint"), "version").CombinedOutput(); err != nil {
		t.Errorf("safepoint version: %v\n%s", err, out)
	}
}

// checkConfig holds the packaged units and configuration files against each
// other and against the packaged binary, which refuses an unknown key.
func checkConfig(t *testing.T, pkg *deb) {
	bin := filepath.Join(pkg.data, "usr/bin/safepoint")
	for _, daemon := range []string{"node", "central"} {
		t.Run(daemon, func(t *testing.T) {
			conf := "/etc/safepoint/" + daemon + ".toml"
			local := filepath.Join(pkg.data, conf)
			unit, err := os.ReadFile(filepath.Join(pkg.data, "lib/systemd/system/safepoint-"+daemon+".service"))
			if err != nil {
				t.Fatal(err)
			}
			keys := unitKeys(string(unit))
			if want := "/usr/bin/safepoint " + daemon + " --config " + conf; keys["ExecStart"] != want {
				t.Errorf("ExecStart=%s, want %s", keys["ExecStart"], want)
			}
			if !slices.Contains(pkg.conffiles, conf) {
				t.Errorf("%s is not a conffile", conf)
			}
			var cfg struct {
				Data string `toml:"data"`
			}
			if _, err := toml.DecodeFile(local, &cfg); err != nil {
				t.Fatal(err)
			}
			if got := "/var/lib/" + keys["StateDirectory"]; got != cfg.Data {
				t.Errorf("the unit's StateDirectory is %s, %s's data is %s: the sandbox would not let it write", got, conf, cfg.Data)
			}
			if keys["Type"] != "notify" || keys["WatchdogSec"] == "" || keys["Restart"] != "on-failure" ||
				keys["User"] != "safepoint" || keys["AmbientCapabilities"] != "CAP_NET_BIND_SERVICE" {
				t.Errorf("the unit lacks Type=notify, WatchdogSec=, Restart=on-failure, User=safepoint or CAP_NET_BIND_SERVICE: %v", keys)
			}
			if daemon == "node" {
				if !slices.Equal(strings.Fields(keys["SupplementaryGroups"]), []string{"i2c", "gpio"}) {
					t.Errorf("the node's SupplementaryGroups=%s, want i2c gpio", keys["SupplementaryGroups"])
				}
				for _, k := range []string{"PrivateDevices", "DevicePolicy", "DeviceAllow", "ProtectClock"} {
					if _, ok := keys[k]; ok {
						t.Errorf("the node's unit sets %s=, which closes /dev/i2c-* and /dev/gpiochip*", k)
					}
				}
			}

			// As shipped, and with every example taken in: the binary must
			// read the file, and fail only later, at a data directory whose
			// parent is missing.
			examples := filepath.Join(t.TempDir(), daemon+".toml")
			n := uncommentExamples(t, local, examples)
			if n < 4 {
				t.Fatalf("%s: only %d examples (#key = …)", conf, n)
			}
			checkReads(t, bin, daemon, local)
			if daemon == "central" {
				// The examples give mqtt beside embedded_broker: one of the two.
				checkReads(t, bin, daemon, examples, "--embedded-broker=")
			} else {
				checkReads(t, bin, daemon, examples)
			}
		})
	}
}

// unitKeys are a unit file's settings (the last of a repeated key).
func unitKeys(unit string) map[string]string {
	keys := map[string]string{}
	for _, line := range strings.Split(unit, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			keys[k] = v
		}
	}
	return keys
}

var example = regexp.MustCompile(`(?m)^#([a-z_]+ = |\[)`)

// uncommentExamples writes src to dst with every example line ("#key = …",
// "#[table]") taken in, and returns how many there were.
func uncommentExamples(t testing.TB, src, dst string) int {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	n := len(example.FindAll(b, -1))
	if err := os.WriteFile(dst, example.ReplaceAll(b, []byte("$1")), 0o644); err != nil {
		t.Fatal(err)
	}
	return n
}

// checkReads runs `safepoint DAEMON --config file` on a data directory that
// cannot be made: the configuration is read and checked before the data
// directory is opened, so an error naming the directory means the file
// passed.
func checkReads(t *testing.T, bin, daemon, file string, extra ...string) {
	t.Helper()
	data := filepath.Join(t.TempDir(), "missing", "data")
	cmd := exec.Command(bin, append([]string{daemon, "--config", file, "--data", data}, extra...)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin"} // no SAFEPOINT_* from the test's environment
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("safepoint %s --config %s --data %s: started", daemon, file, data)
	}
	if !strings.Contains(string(out), data) || strings.Contains(string(out), "unknown key") {
		b, _ := os.ReadFile(file)
		t.Errorf("safepoint %s does not take %s: %v\n%s\n--- the file:\n%s", daemon, file, err, out, b)
	}
}

// throwaway is a root to install into: an overlay of this machine's own
// root, entered in a mount namespace of its own, so that dpkg, adduser and
// the maintainer scripts run as they would on a real system while what they
// change lands in upper, and nowhere else.
type throwaway struct{ upper, work, merged string }

// overlayfsMagic is statfs's f_type of overlayfs (linux/magic.h).
const overlayfsMagic = 0x794c7630

const enterRoot = `set -e
mount -t overlay overlay -o "lowerdir=/,upperdir=$1,workdir=$2" "$3"
mount --rbind /dev "$3/dev"
mount -t proc proc "$3/proc"
root=$3
shift 3
exec chroot "$root" "$@"`

func newThrowaway(t *testing.T) *throwaway {
	if os.Geteuid() != 0 {
		needPeer(t, "not root: installing the .deb into a throwaway root needs root (mount, chroot)")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		needPeer(t, "unshare not installed (util-linux)")
	}
	dir := t.TempDir()
	// An overlay's upper layer cannot be on overlayfs, as /tmp is in many
	// containers: there it goes to /dev/shm.
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err == nil && fs.Type == overlayfsMagic {
		shm, err := os.MkdirTemp("/dev/shm", "safepoint-deb-")
		if err != nil {
			needPeer(t, "no throwaway root: "+dir+" is on overlayfs and /dev/shm is not writable")
		}
		t.Cleanup(func() { os.RemoveAll(shm) })
		dir = shm
	}
	r := &throwaway{filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(t.TempDir(), "root")}
	for _, d := range []string{r.upper, r.work, r.merged} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := r.sh("true"); err != nil {
		needPeer(t, fmt.Sprintf("no throwaway root (an overlay of / in a mount namespace): %v: %s", err, out))
	}
	return r
}

// sh runs script with /bin/sh inside the root.
func (r *throwaway) sh(script string) (string, error) {
	cmd := exec.Command("unshare", "--mount", "--propagation", "private",
		"/bin/sh", "-c", enterRoot, "enter", r.upper, r.work, r.merged, "/bin/sh", "-c", script)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"LC_ALL=C.UTF-8", "HOME=/root", "DEBIAN_FRONTEND=noninteractive"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (r *throwaway) must(t *testing.T, script string) string {
	t.Helper()
	out, err := r.sh(script)
	if err != nil {
		t.Fatalf("in the throwaway root: %s: %v\n%s", script, err, out)
	}
	return out
}

func (r *throwaway) want(t *testing.T, script, want string) {
	t.Helper()
	if got := strings.TrimSpace(r.must(t, script)); got != want {
		t.Errorf("%s:\n got %q\nwant %q", script, got, want)
	}
}

// serves runs `safepoint DAEMON --config /etc/safepoint/DAEMON.toml flags`
// as the safepoint user until it serves staff, then stops it with SIGTERM:
// it must exit 0.
func (r *throwaway) serves(t *testing.T, daemon, flags string) {
	t.Helper()
	r.must(t, fmt.Sprintf(`log=/tmp/%[1]s.log
setpriv --reuid=safepoint --regid=safepoint --init-groups \
  safepoint %[1]s --config /etc/safepoint/%[1]s.toml %[2]s 2>$log &
pid=$!
i=0
until grep -q 'Serving staff' $log; do
  i=$((i+1))
  if [ $i -gt 300 ] || ! kill -0 $pid 2>/dev/null; then cat $log; kill $pid; exit 1; fi
  sleep 0.1
done
kill -TERM $pid
wait $pid || { echo "exit $?"; cat $log; exit 1; }`, daemon, flags))
}

func checkInstall(t *testing.T, dist, arch, first, bin string) {
	r := newThrowaway(t)
	if out, _ := r.sh("dpkg-query -W safepoint"); !strings.Contains(out, "no packages found") {
		t.Fatalf("safepoint is installed on this machine already: %s", out)
	}
	status := "dpkg-query -W -f '${db:Status-Abbrev}${Version}\\n' safepoint"

	// A first install: the user, its groups and its state; nothing enabled.
	r.must(t, "dpkg -i "+first+" </dev/null")
	r.want(t, status, "ii 1.0.0")
	r.want(t, "getent passwd safepoint | cut -d: -f6,7", "/var/lib/safepoint:/usr/sbin/nologin")
	r.want(t, `[ "$(id -u safepoint)" -lt 1000 ] && echo system`, "system")
	r.want(t, "id -nG safepoint | tr ' ' '\\n' | grep -x -e i2c -e gpio | sort | tr '\\n' ' '", "gpio i2c")
	r.want(t, "stat -c '%U:%G %a %n' /var/lib/safepoint /var/lib/safepoint/node /var/lib/safepoint/central",
		"safepoint:safepoint 750 /var/lib/safepoint\nsafepoint:safepoint 700 /var/lib/safepoint/node\nsafepoint:safepoint 700 /var/lib/safepoint/central")
	r.want(t, "ls /etc/systemd/system/multi-user.target.wants/ | grep safepoint || echo none", "none")
	if out, err := r.sh("command -v systemd-analyze"); err == nil && out != "" {
		r.must(t, "systemd-analyze verify safepoint-node.service safepoint-central.service")
	} else {
		t.Log("SKIP: systemd-analyze not installed: the units are not verified")
	}

	// As INSTALL.md: an admin account made as the safepoint user before
	// the first start, then each daemon as its unit runs it (but on
	// loopback ports), as the safepoint user, in the state postinst made.
	r.must(t, "printf '%s\\n%s\\n' 'ett långt lösenord' 'ett långt lösenord' | "+
		"setpriv --reuid=safepoint --regid=safepoint --init-groups safepoint user add --data /var/lib/safepoint/central --name anna --role admin")
	r.serves(t, "node", "--http 127.0.0.1:0 --https 127.0.0.1:0")
	r.serves(t, "central", "--http 127.0.0.1:0 --https 127.0.0.1:0 --embedded-broker 127.0.0.1:0")
	r.want(t, "stat -c '%U %n' /var/lib/safepoint/*/safepoint.db",
		"safepoint /var/lib/safepoint/central/safepoint.db\nsafepoint /var/lib/safepoint/node/safepoint.db")

	// An upgrade over a local edit, with the conffile unchanged in the
	// package: dpkg keeps the edit without asking (stdin is empty: a
	// question would fail the install). The node, once enabled, stays so.
	r.must(t, `sed -i '0,/^#name = .*/s//name = "Byhuset (lokal ändring)"/' /etc/safepoint/node.toml`)
	r.must(t, "systemctl enable safepoint-node.service 2>&1")
	second := buildDeb(t, dist, arch, "1.0.1", "DEB_BIN="+bin)
	r.must(t, "dpkg -i "+second+" </dev/null")
	r.want(t, status, "ii 1.0.1")
	r.want(t, "grep '^name' /etc/safepoint/node.toml", `name = "Byhuset (lokal ändring)"`)
	r.want(t, "ls /etc/systemd/system/multi-user.target.wants/ | grep safepoint", "safepoint-node.service")
	r.want(t, "safepoint user list --data /var/lib/safepoint/central | grep -c anna", "1")

	// An upgrade whose node.toml changed too, as apt upgrades unattended
	// (--force-confdef --force-confold): the edit stays, the new file
	// lands beside it.
	changed := filepath.Join(t.TempDir(), "node.toml")
	b, err := os.ReadFile(filepath.Join(root, "deploy/config/node.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(changed, append(b, "\n# 1.0.2: a new example.\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	recipe, err := os.ReadFile(filepath.Join(root, "packaging/nfpm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	recipe = bytes.Replace(recipe, []byte("src: deploy/config/node.toml"), []byte("src: "+changed), 1)
	config := filepath.Join(t.TempDir(), "nfpm.yaml")
	if err := os.WriteFile(config, recipe, 0o644); err != nil {
		t.Fatal(err)
	}
	third := buildDeb(t, dist, arch, "1.0.2", "DEB_BIN="+bin, "NFPM_CONFIG="+config)
	r.must(t, "dpkg -i --force-confdef --force-confold "+third+" </dev/null")
	r.want(t, status, "ii 1.0.2")
	r.want(t, "grep '^name' /etc/safepoint/node.toml", `name = "Byhuset (lokal ändring)"`)
	r.want(t, "tail -n1 /etc/safepoint/node.toml.dpkg-dist", "# 1.0.2: a new example.")

	// Remove keeps the configuration and the state; purge deletes both,
	// and leaves the system user, as Debian does.
	r.must(t, "dpkg -r safepoint </dev/null")
	r.want(t, status, "rc 1.0.2")
	r.want(t, "ls /usr/bin/safepoint 2>&1 >/dev/null | grep -c 'No such file'", "1")
	r.want(t, "ls /etc/safepoint/node.toml /var/lib/safepoint/central/safepoint.db",
		"/etc/safepoint/node.toml\n/var/lib/safepoint/central/safepoint.db")
	// As dh_installsystemd: the enabled unit is masked while its file is gone.
	r.want(t, "readlink /etc/systemd/system/safepoint-node.service", "/dev/null")
	r.must(t, "dpkg --purge safepoint </dev/null")
	r.want(t, "dpkg-query -W safepoint 2>&1 | grep -c 'no packages found'", "1")
	r.want(t, "ls -d /etc/safepoint /var/lib/safepoint 2>/dev/null | wc -l", "0")
	r.want(t, "find /etc/systemd /var/lib/systemd -name '*safepoint*' | wc -l", "0")
	r.want(t, "getent passwd safepoint | cut -d: -f1", "safepoint")
}
