// Command mainpkg: returning from main ends the process.
package main

import (
	"log"
	"os"
)

func main() {
	f, err := os.Open("input")
	if err != nil {
		log.Fatal(err)
	}
	if len(os.Args) > 1 {
		return
	}
	for _, name := range os.Args {
		g, err := os.Open(name) // want `file acquired here is not released before the next iteration`
		if err != nil {
			continue
		}
		_ = g
	}
	_ = f
}

func helper() error {
	f, err := os.Open("input") // want `file acquired here is not released on the return`
	if err != nil {
		return err
	}
	_ = f
	return nil
}
