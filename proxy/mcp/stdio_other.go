//go:build !unix

package mcp

import (
	"os"
	"syscall"
)

func stdioSysProcAttr() *syscall.SysProcAttr { return nil }

// killGroup ends p; without process groups, its children are not reached.
func killGroup(p *os.Process, kill bool) {
	_ = p.Kill()
}
