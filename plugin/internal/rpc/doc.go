// Package rpc is what both sides of a plugin connection share above the
// transport: the Xlator service served over a local graph (Server, with an
// Endpoint for what differs between the host's callback service and the
// plugin's translator), a translator whose fops call the far side
// (Remote, with a Mapper for how its inodes and fds become gfids and
// handles: the host's Plugin and the plugin's proxies embed it), the
// conversions between xlator types and protocol messages (conv.go), the
// handle tables (handles.go), the schema file a plugin publishes and the
// host's loader reads (schemafile.go), gRPC options and go-plugin's glue
// (handshake.go), and the bridge between zap and go-plugin's hclog
// (log.go).
//
// It imports package transport (its rings carry Server's calls and
// Remote's readv and writev when the far side serves them) and the
// generated protocol; package plugin (the SDK) and package plugin/host
// import it.
package rpc
