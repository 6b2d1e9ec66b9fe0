package volfile

import (
	"fmt"

	"github.com/xstack/xstack/xlator"
)

// testRegistry returns fake xlator types for the tests: posix, stripe and
// cache with the options the real ones declare, "kinds" with one option of
// every kind, "plugin" whose schema comes from SchemaFor (unknown for
// binary "unpublished", an error for "fail"), and "baddefault"
// whose registration carries an invalid default.
func testRegistry() *xlator.Registry {
	reg := xlator.NewRegistry()
	none := func() xlator.Xlator { return nil }
	reg.MustRegister(xlator.Type{
		Name: "posix", New: none, MinChildren: 0, MaxChildren: 0,
		Options: xlator.Schema{
			{Name: "directory", Kind: xlator.KindPath, Required: true, Doc: "the brick directory"},
			{Name: "o-direct", Kind: xlator.KindBool, Default: "false"},
			{Name: "create-directory", Kind: xlator.KindBool, Default: "true"},
			{Name: "reserve", Kind: xlator.KindSize, Default: "0"},
			{Name: "fsync", Kind: xlator.KindEnum, Enum: []string{"always", "batch", "never"}, Default: "never"},
			{Name: "health-check-interval", Kind: xlator.KindDuration, Default: "0s", Min: 0, Max: int64(1 << 40)},
		},
	})
	reg.MustRegister(xlator.Type{
		Name: "stripe", New: none, MinChildren: 1, MaxChildren: -1,
		Options: xlator.Schema{
			{Name: "block-size", Kind: xlator.KindSize, Default: "128KiB", Min: 4 << 10, Max: 1 << 30},
			{Name: "block-size-pattern", Kind: xlator.KindSizeMap, Min: 4 << 10, Max: 1 << 30},
			{Name: "coalesce", Kind: xlator.KindBool, Default: "true"},
		},
	})
	reg.MustRegister(xlator.Type{
		Name: "cache", New: none, MinChildren: 1, MaxChildren: 1,
		Options: xlator.Schema{
			{Name: "cache-size", Kind: xlator.KindSize, Default: "32MiB", Min: 1 << 20, Max: 1 << 40},
			{Name: "page-size", Kind: xlator.KindSize, Default: "128KiB", Min: 4 << 10, Max: 1 << 20},
			{Name: "cache-timeout", Kind: xlator.KindDuration, Default: "1s"},
			{Name: "min-file-size", Kind: xlator.KindSize, Default: "0"},
			{Name: "max-file-size", Kind: xlator.KindSize, Default: "0"},
			{Name: "priority", Kind: xlator.KindIntMap, Min: 1, Max: 100},
			{Name: "read-ahead", Kind: xlator.KindInt, Default: "0", Min: 0, Max: 64},
		},
	})
	reg.MustRegister(xlator.Type{Name: "locks", New: none, MinChildren: 1, MaxChildren: 1})
	reg.MustRegister(xlator.Type{
		Name: "kinds", New: none, MinChildren: 0, MaxChildren: -1,
		Options: xlator.Schema{
			{Name: "s", Kind: xlator.KindString, Default: "dflt"},
			{Name: "b", Kind: xlator.KindBool},
			{Name: "i", Kind: xlator.KindInt, Min: 1, Max: 10, Default: "5"},
			{Name: "sz", Kind: xlator.KindSize},
			{Name: "d", Kind: xlator.KindDuration},
			{Name: "e", Kind: xlator.KindEnum, Enum: []string{"red", "green", "blue"}},
			{Name: "p", Kind: xlator.KindPath},
			{Name: "sm", Kind: xlator.KindSizeMap},
			{Name: "im", Kind: xlator.KindIntMap},
		},
	})
	reg.MustRegister(xlator.Type{
		Name: "plugin", New: none, MinChildren: 0, MaxChildren: -1,
		Options: xlator.Schema{
			{Name: "binary", Kind: xlator.KindPath, Required: true},
		},
		SchemaFor: func(boot xlator.Options) (xlator.Schema, error) {
			bin := boot.String("binary")
			switch bin {
			case "fail":
				return nil, fmt.Errorf("binary %q: permission denied", bin)
			case "unpublished":
				return nil, fmt.Errorf("%w: %q publishes no schema", xlator.ErrSchemaUnknown, bin)
			}
			return xlator.Schema{
				{Name: "binary", Kind: xlator.KindPath}, // repeated: the type's own wins
				{Name: "level", Kind: xlator.KindInt, Default: "3", Min: 1, Max: 9},
			}, nil
		},
	})
	reg.MustRegister(xlator.Type{
		Name: "baddefault", New: none, MaxChildren: -1,
		Options: xlator.Schema{{Name: "size", Kind: xlator.KindSize, Default: "lots"}},
	})
	return reg
}
