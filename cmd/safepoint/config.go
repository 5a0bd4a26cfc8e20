package main

import (
	"flag"
	"fmt"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// parseLayered fills a configuration from four layers, highest first:
// command-line flags, SAFEPOINT_* environment variables, the TOML file
// named by --config (or SAFEPOINT_CONFIG), and the defaults that reset
// restores. Every flag of fs is bound to a field of the configuration; its
// environment twin is SAFEPOINT_ and the flag's name in upper case with
// dashes as underscores; its TOML key is the field's toml tag.
func parseLayered(fs *flag.FlagSet, args []string, env func(string) string,
	configPath *string, reset func(), loadFile func(path string) error) error {
	if err := fs.Parse(args); err != nil {
		return usageErr(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return errUsage
	}
	explicit := map[string]string{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = f.Value.String() })

	reset()
	path := explicit["config"]
	if path == "" {
		path = env(envName("config"))
	}
	if path != "" {
		if err := loadFile(path); err != nil {
			return err
		}
	}
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if _, ok := explicit[f.Name]; ok || err != nil {
			return
		}
		if v := env(envName(f.Name)); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %v", envName(f.Name), v, e)
			}
		}
	})
	if err != nil {
		return err
	}
	for name, v := range explicit {
		if e := fs.Set(name, v); e != nil {
			return fmt.Errorf("-%s: %v", name, e)
		}
	}
	if configPath != nil {
		*configPath = path
	}
	return nil
}

// envName is a flag's environment twin.
func envName(flagName string) string {
	return "SAFEPOINT_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// decodeTOML reads a TOML file into v, refusing keys v does not have: a
// typo in a config file must not be silently ignored.
func decodeTOML(path string, v any) error {
	md, err := toml.DecodeFile(path, v)
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		keys := make([]string, len(undecoded))
		for i, k := range undecoded {
			keys[i] = k.String()
		}
		sort.Strings(keys)
		return fmt.Errorf("config %s: unknown key(s): %s", path, strings.Join(keys, ", "))
	}
	return nil
}
