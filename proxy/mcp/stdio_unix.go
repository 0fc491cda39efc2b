//go:build unix

package mcp

import (
	"os"
	"syscall"
)

// stdioSysProcAttr puts a stdio server in a process group of its own, so that
// Close can signal every process it started.
func stdioSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// killGroup sends SIGTERM (or SIGKILL when kill is set) to p's process group.
func killGroup(p *os.Process, kill bool) {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	if err := syscall.Kill(-p.Pid, sig); err != nil {
		_ = p.Signal(sig) // the group is gone: at most the leader is left
	}
}
