// Package packaging holds the recipe of the Debian package, safepoint_*.deb,
// which `make deb` builds with scripts/deb.sh: nfpm.yaml (what goes where,
// for nfpm, the Go tool pinned in go.mod) and the maintainer scripts
// postinst, prerm and postrm. The units and configuration files it installs
// live in deploy/. It has no Go code of its own: its test builds a package,
// reads it back with dpkg-deb, checks the configuration files against the
// binary inside, and installs, upgrades, removes and purges it with dpkg in
// a throwaway root.
package packaging
