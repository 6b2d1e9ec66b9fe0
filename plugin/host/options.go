package host

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/xstack/xstack/plugin/internal/rpc"
	"github.com/xstack/xstack/plugin/internal/transport"
	pb "github.com/xstack/xstack/plugin/proto"
	"github.com/xstack/xstack/xlator"
)

// Loading a volfile checks a plugin volume's options against the schema
// the plugin publishes, if any. At start the binary runs anyway (after
// its sha256 check), so the host asks it for its schema and decodes the
// options against that, the authority: the volfile's values as written
// (VolumeSpec.Literals) go through the same xlator.Option.Convert as in
// the loader, so a volfile means the same thing checked either way.

// pluginOptions returns the options to initialise the running plugin inst
// with, decoded against the schema it declares. A published schema for
// this binary that declares something else is an error: the volfile was
// checked against it.
func (p *Plugin) pluginOptions(ctx context.Context, inst *instance) (xlator.Options, error) {
	rsp, err := inst.c.Ctl.Schema(ctx, &pb.SchemaReq{})
	if err != nil {
		return xlator.Options{}, fmt.Errorf("plugin %s: schema: %s", p.path, statusMessage(err))
	}
	running := xlator.Type{Name: rsp.Name, Doc: rsp.Doc, Options: rpc.SchemaFrom(rsp.Options),
		MinChildren: int(rsp.MinChildren), MaxChildren: int(rsp.MaxChildren)}
	if sum, err := rpc.FileSum(p.path); err == nil {
		if pub, err := readSchema(p.path, sum); err == nil {
			if d := schemaDiff(pub, running); d != "" {
				return xlator.Options{}, fmt.Errorf("plugin %s: the schema published for it (%s) is not the one it declares: %s; the volfile was checked against the published one, so publish it again: %s %s > %s",
					p.path, SchemaFile(p.path), d, p.path, transport.SchemaFlag, SchemaFile(p.path))
			}
		}
	}
	vs := &xlator.VolumeSpec{Name: p.Name(), Options: p.opts}
	if g := p.Graph(); g != nil {
		if s, ok := g.Spec().Volume(p.Name()); ok {
			vs = s
		}
	}
	o, err := decodeOptions(running.Options, vs, p.opts)
	if err != nil {
		return xlator.Options{}, fmt.Errorf("plugin %s: %w", p.path, err)
	}
	return o, nil
}

// decodeOptions decodes the plugin's options of volume vs against s: the
// volfile's values as written (vs.Literals); else values given in opts by
// code that built the Spec itself; else the schema's defaults. Its errors
// name every option that fails and where the volfile gives it.
func decodeOptions(s xlator.Schema, vs *xlator.VolumeSpec, opts xlator.Options) (xlator.Options, error) {
	out := xlator.NewOptions()
	var errs []error
	given := map[string]bool{}
	takes := func() string {
		if len(s) == 0 {
			return "it takes none"
		}
		q := make([]string, len(s))
		for i, o := range s {
			q[i] = strconv.Quote(o.Name)
		}
		return "it takes " + strings.Join(q, ", ")
	}
	for _, l := range vs.Literals {
		given[l.Name] = true
		opt, ok := s.Lookup(l.Name)
		if !ok {
			errs = append(errs, fmt.Errorf("%soption %q: the plugin has no such option; %s", at(l.Pos), l.Name, takes()))
			continue
		}
		v, err := opt.Convert(l.Value)
		if err != nil {
			sep := ":"
			if errors.Is(err, xlator.ErrWrongType) {
				sep = ""
			}
			errs = append(errs, fmt.Errorf("%soption %q%s %v", at(l.Pos), l.Name, sep, err))
			continue
		}
		out.Set(l.Name, v, true)
	}
	for _, n := range opts.Names() {
		if _, host := Schema.Lookup(n); host || given[n] || !opts.IsSet(n) {
			continue
		}
		given[n] = true
		v, _ := opts.Get(n)
		opt, ok := s.Lookup(n)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("option %q: the plugin has no such option; %s", n, takes()))
		case v.Kind != opt.Kind:
			errs = append(errs, fmt.Errorf("option %q is a %s; the plugin's is a %s", n, v.Kind, opt.Kind))
		default:
			if err := opt.CheckRange(v); err != nil {
				errs = append(errs, fmt.Errorf("option %q: %w", n, err))
			} else {
				out.Set(n, v, true)
			}
		}
	}
	for _, opt := range s {
		if given[opt.Name] {
			continue
		}
		if opt.Required {
			doc := ""
			if opt.Doc != "" {
				doc = " (" + opt.Doc + ")"
			}
			errs = append(errs, fmt.Errorf("%smissing required option %q%s, %s; add %s = ... to volume %q",
				at(vs.Pos), opt.Name, doc, opt.Takes(), opt.Name, vs.Name))
			continue
		}
		v := xlator.Value{Kind: opt.Kind}
		if opt.Kind == xlator.KindSizeMap || opt.Kind == xlator.KindIntMap {
			v.Map = map[string]int64{}
		}
		if opt.Default != "" {
			var err error
			if v, err = opt.ParseScalar(opt.Default); err != nil {
				errs = append(errs, fmt.Errorf("option %q: the plugin's default %q is invalid: %v", opt.Name, opt.Default, err))
				continue
			}
		}
		out.Set(opt.Name, v, false)
	}
	return out, errors.Join(errs...)
}

// at prefixes a message with a volfile position, when there is one.
func at(pos string) string {
	if pos == "" {
		return ""
	}
	return pos + ": "
}
