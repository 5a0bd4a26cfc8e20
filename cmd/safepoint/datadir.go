package main

import "flag"

// dataFlags are --data and --config for the commands that work on a
// node's data directory beside the daemon (dump, user): of the
// configuration file they read only the data key.
type dataFlags struct {
	data, config string
}

func (d *dataFlags) bind(fs *flag.FlagSet, dataUsage string) {
	fs.StringVar(&d.config, "config", "", "TOML configuration `file` (its data key is used)")
	fs.StringVar(&d.data, "data", defaultNodeConfig().Data, dataUsage)
}

// parse is parseLayered for fs; reset restores the command's other flags'
// defaults.
func (d *dataFlags) parse(fs *flag.FlagSet, args []string, env func(string) string, reset func()) error {
	return parseLayered(fs, args, env, &d.config,
		func() { d.data = defaultNodeConfig().Data; reset() },
		func(path string) error {
			cfg := defaultNodeConfig()
			if err := decodeTOML(path, &cfg); err != nil {
				return err
			}
			d.data = cfg.Data
			return nil
		})
}
