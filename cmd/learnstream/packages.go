package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

func init() {
	commands["packages"] = command{
		summary: "content packages (packages import FILE.zip)",
		subs: map[string]command{
			"import": {summary: "import a SCORM 1.2, SCORM 2004 or cmi5 package (a zip, or a bare cmi5.xml) into the running server", run: runPackagesImport},
		},
	}
}

// runPackagesImport streams the file to POST /v1/packages: a package can
// be large, so it is neither read whole nor bound by the client timeout.
func runPackagesImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c client
	fs := newFlagSet("packages import", stderr)
	c.flags(fs)
	var file string
	// FILE comes first, or last when it names a zip or xml file.
	switch n := len(args); {
	case n > 0 && !strings.HasPrefix(args[0], "-"):
		file, args = args[0], args[1:]
	case n > 1 && (strings.HasSuffix(args[n-1], ".zip") || strings.HasSuffix(args[n-1], ".xml")) && !strings.HasPrefix(args[n-1], "-"):
		file, args = args[n-1], args[:n-1]
	}
	if err := parseFlagsAs(fs, "FILE.zip [flags]", true, args); err != nil {
		return err
	}
	if file == "" {
		return usageError(fs, "the package file is required")
	}
	if err := c.init(); err != nil {
		return err
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.server+"/v1/packages", f)
	if err != nil {
		return err
	}
	req.ContentLength = st.Size()
	req.Header.Set("Content-Type", "application/zip")
	req.SetBasicAuth(c.key, c.secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s/v1/packages: %w", c.server, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	var ans struct {
		Error, ID, Type, Course, Title, URL string
		Units, Files                        int
		Problems                            []struct {
			File, Element, Message string
			Line                   int
		}
	}
	_ = json.Unmarshal(body, &ans)
	if resp.StatusCode != http.StatusCreated {
		if ans.Error == "" {
			return fmt.Errorf("%s: status %d", file, resp.StatusCode)
		}
		if len(ans.Problems) > 1 {
			for _, p := range ans.Problems {
				fmt.Fprintf(stderr, "  %s:%d: <%s>: %s\n", p.File, p.Line, p.Element, p.Message)
			}
		}
		return fmt.Errorf("%s: %s (%d)", file, ans.Error, resp.StatusCode)
	}
	fmt.Fprintf(stdout, "imported %s package %q (%s): %d units, %d files\npackage %s, files at %s%s\n",
		ans.Type, ans.Title, ans.Course, ans.Units, ans.Files, ans.ID, c.server, ans.URL)
	return nil
}
