package admin

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/safepoint-se/safepoint/internal/datadir"
	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/node/eventlog"
)

// The staff accounts of a data directory. These work beside a running
// daemon: both go through SQLite, and the daemon caches nothing.

// AddUser creates an account with role, its password read from stdin
// (twice; prompt is where a terminal is asked). municipalities limits it
// to those municipalities' points at central (SCB codes, comma
// separated); empty is every municipality.
func AddUser(ctx context.Context, data, name, role, municipalities string, stdin io.Reader, stdout, prompt io.Writer) error {
	if !accounts.Role(role).Valid() {
		return fmt.Errorf("user add: --role %q: %w", role, accounts.ErrBadRole)
	}
	if !accounts.ValidAccountName(name) {
		return fmt.Errorf("user add: --name %q: %w", name, accounts.ErrBadAccountName)
	}
	scope, err := accounts.ParseMunicipalities(municipalities)
	if err != nil {
		return fmt.Errorf("user add: --municipalities: %w", err)
	}
	return withNewPassword(ctx, data, stdin, prompt, func(staff *accounts.Accounts, password string) error {
		if err := staff.AddScoped(ctx, name, accounts.Role(role), password, scope); err != nil {
			return fmt.Errorf("user add: %w", err)
		}
		if scope == nil {
			fmt.Fprintf(stdout, "Added %s (%s).\n", name, role)
		} else {
			fmt.Fprintf(stdout, "Added %s (%s, municipalities %s).\n", name, role, scopeText(scope))
		}
		return nil
	})
}

// SetScope sets the municipalities an account sees at central (SCB
// codes, comma separated); empty is every municipality. Its sessions go
// on, under the new scope.
func SetScope(ctx context.Context, data, name, municipalities string, stdout io.Writer) error {
	scope, err := accounts.ParseMunicipalities(municipalities)
	if err != nil {
		return fmt.Errorf("user scope: --municipalities: %w", err)
	}
	staff, err := openAccounts(ctx, data)
	if err != nil {
		return err
	}
	defer staff.Close()
	if err := staff.SetMunicipalities(ctx, name, scope); err != nil {
		return fmt.Errorf("user scope: %w", err)
	}
	if scope == nil {
		fmt.Fprintf(stdout, "%s: every municipality.\n", name)
	} else {
		fmt.Fprintf(stdout, "%s: municipalities %s.\n", name, scopeText(scope))
	}
	return nil
}

// scopeText is a scope as `user list` shows it: "all", or the codes.
func scopeText(municipalities []string) string {
	if len(municipalities) == 0 {
		return "all"
	}
	return strings.Join(municipalities, ",")
}

// ListUsers writes a table of the accounts.
func ListUsers(ctx context.Context, data string, stdout io.Writer) error {
	staff, err := openAccounts(ctx, data)
	if err != nil {
		return err
	}
	defer staff.Close()
	list, err := staff.List(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tSTATE\tCREATED\tMUNICIPALITIES")
	for _, a := range list {
		state := "active"
		if a.Disabled {
			state = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Name, a.Role, state, a.Created.Format("2006-01-02 15:04"), scopeText(a.Municipalities))
	}
	return tw.Flush()
}

// SetDisabled disables an account, ending its sessions, or enables it.
func SetDisabled(ctx context.Context, data, name string, disabled bool, stdout io.Writer) error {
	action := "enable"
	if disabled {
		action = "disable"
	}
	staff, err := openAccounts(ctx, data)
	if err != nil {
		return err
	}
	defer staff.Close()
	if err := staff.SetDisabled(ctx, name, disabled); err != nil {
		return fmt.Errorf("user %s: %w", action, err)
	}
	fmt.Fprintf(stdout, "%s: %sd.\n", name, action)
	return nil
}

// SetPassword sets an account's password, read from stdin as AddUser
// reads it, and ends its sessions.
func SetPassword(ctx context.Context, data, name string, stdin io.Reader, stdout, prompt io.Writer) error {
	return withNewPassword(ctx, data, stdin, prompt, func(staff *accounts.Accounts, password string) error {
		if err := staff.SetPassword(ctx, name, password); err != nil {
			return fmt.Errorf("user passwd: %w", err)
		}
		fmt.Fprintf(stdout, "Password of %s changed; its sessions ended.\n", name)
		return nil
	})
}

// withNewPassword opens the accounts of data, reads a new password, and
// hands both to f.
func withNewPassword(ctx context.Context, data string, stdin io.Reader, prompt io.Writer,
	f func(staff *accounts.Accounts, password string) error) error {
	staff, err := openAccounts(ctx, data)
	if err != nil {
		return err
	}
	defer staff.Close()
	password, err := readNewPassword(stdin, prompt)
	if err != nil {
		return err
	}
	return f(staff, password)
}

// openAccounts opens the accounts of a data directory; before the node's
// first start this makes the directory (0700) and the database (0600).
func openAccounts(ctx context.Context, data string) (*accounts.Accounts, error) {
	if _, err := datadir.Make(data); err != nil {
		return nil, err
	}
	return accounts.Open(ctx, filepath.Join(data, eventlog.FileName), nil)
}
