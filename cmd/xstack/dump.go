package main

import (
	"io"

	"github.com/xstack/xstack/statedump"
)

// cmdDump prints the statedump of a running stack, read through its admin
// socket: xstack dump [-json] [-parts mem,iobuf,…] [TARGET].
func cmdDump(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("dump", stderr, nil)
	asJSON := fs.Bool("json", false, "print the dump as JSON (the statedump.Dump schema)")
	parts := fs.String("parts", "", "comma-separated parts: mem, iobuf, slab, bio, callpool, priv, fd, inode, fops (default all)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return &exitError{2, "usage: xstack dump [-json] [-parts mem,iobuf,…] [SOCKET|PID|MOUNTPOINT]"}
	}
	// Check the parts here, so a typo is reported before any stack is
	// looked for.
	sel, err := statedump.ParseParts(*parts)
	if err != nil {
		return &exitError{2, err.Error()}
	}
	req := statedump.Request{Format: string(statedump.FormatText)}
	if *asJSON {
		req.Format = string(statedump.FormatJSON)
	}
	for _, p := range sel {
		req.Parts = append(req.Parts, string(p))
	}
	sock, err := statedump.Resolve(fs.Arg(0), statedump.RunDir())
	if err != nil {
		return err
	}
	return statedump.Fetch(sock, req, stdout)
}
