package upstream

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sort"

	"github.com/ehrsim/ehrsim/mockehr/fhir"
	"github.com/ehrsim/ehrsim/mockehr/fhirstore"
)

// filterBundle keeps the Bundle entries keep accepts and rewrites the
// upstream's URLs to base. An entry whose resource ehrsim cannot judge (a
// type it does not know, a body it cannot parse) is dropped; entries
// without a resource (history deletions) and OperationOutcomes stay. When
// a match is dropped the Bundle's total no longer holds and is removed.
//
// pagePath, when set, is what was asked (a type, or
// Patient/{id}/$everything): paging links on the upstream's bare base
// (HAPI's ?_getpages=…) become {base}/{pagePath}?…, which ehrsim serves
// and judges again (see page).
func (p *Proxy) filterBundle(a *fhir.Access, body []byte, pagePath string, warnings []string, keep func(mode string, r *fhirstore.Resource) bool) ([]byte, error) {
	var b map[string]json.RawMessage
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, fhir.Error(http.StatusBadGateway, "invalid", "the upstream FHIR server's answer is not JSON")
	}
	var rt string
	_ = json.Unmarshal(b["resourceType"], &rt)
	if rt != "Bundle" {
		return nil, fhir.Error(http.StatusBadGateway, "invalid", "the upstream FHIR server answered a "+rt+" where a Bundle was expected")
	}
	var entries []map[string]json.RawMessage
	if raw, ok := b["entry"]; ok {
		if err := json.Unmarshal(raw, &entries); err != nil {
			return nil, fhir.Error(http.StatusBadGateway, "invalid", "the upstream FHIR server's Bundle has malformed entries")
		}
	}
	kept := make([]map[string]json.RawMessage, 0, len(entries)+len(warnings))
	for _, w := range warnings {
		oo, _ := json.Marshal(map[string]any{"resourceType": "OperationOutcome",
			"issue": []map[string]string{{"severity": "warning", "code": "not-supported", "diagnostics": w}}})
		kept = append(kept, map[string]json.RawMessage{"resource": oo, "search": json.RawMessage(`{"mode":"outcome"}`)})
	}
	droppedMatch := false
	for _, e := range entries {
		var mode string
		if s, ok := e["search"]; ok {
			var sm struct{ Mode string }
			_ = json.Unmarshal(s, &sm)
			mode = sm.Mode
		}
		raw, ok := e["resource"]
		if !ok {
			kept = append(kept, e)
			continue
		}
		var head struct{ ResourceType string }
		_ = json.Unmarshal(raw, &head)
		if head.ResourceType == "OperationOutcome" {
			kept = append(kept, e)
			continue
		}
		ok = false
		if fhirstore.Type(head.ResourceType) != nil {
			if r, err := a.Parse(head.ResourceType, raw); err == nil {
				ok = keep(mode, r)
			}
		}
		if ok {
			kept = append(kept, e)
		} else if mode != "include" {
			droppedMatch = true
		}
	}
	if len(kept) > 0 {
		b["entry"], _ = json.Marshal(kept)
	} else {
		delete(b, "entry")
	}
	if droppedMatch {
		delete(b, "total")
	}
	var total int = -1
	if t, ok := b["total"]; ok {
		_ = json.Unmarshal(t, &total)
	}
	a.SetTotal(total)
	out := marshalResource(b)
	if pagePath != "" {
		out = bytes.ReplaceAll(out, []byte(p.base+"?"), []byte(a.Base()+"/"+pagePath+"?"))
	}
	return p.rewrite(out, a.Base()), nil
}

// marshalResource writes a JSON object with resourceType first, then the
// other members by name.
func marshalResource(m map[string]json.RawMessage) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "resourceType" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var buf bytes.Buffer
	buf.WriteByte('{')
	if rt, ok := m["resourceType"]; ok {
		buf.WriteString(`"resourceType":`)
		buf.Write(rt)
		if len(keys) > 0 {
			buf.WriteByte(',')
		}
	}
	for i, k := range keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(m[k])
	}
	buf.WriteByte('}')
	return buf.Bytes()
}

// rewrite replaces the upstream base in absolute URLs (Bundle fullUrl and
// link, absolute references) with ehrsim's base, in both the plain and
// the "\/"-escaped JSON spelling.
func (p *Proxy) rewrite(b []byte, base string) []byte {
	if !bytes.Contains(b, []byte(p.base)) && !bytes.Contains(b, []byte(`:\/\/`)) {
		return b // the common read: nothing to rewrite, no copy
	}
	b = bytes.ReplaceAll(b, []byte(p.base), []byte(base))
	if esc := bytes.ReplaceAll([]byte(p.base), []byte("/"), []byte(`\/`)); bytes.Contains(b, esc) {
		b = bytes.ReplaceAll(b, esc, bytes.ReplaceAll([]byte(base), []byte("/"), []byte(`\/`)))
	}
	return b
}

// rewriter is rewrite for a stream: it holds back the last len(old)-1
// bytes, the only ones that may begin a match continued by the next
// write.
type rewriter struct {
	w        io.Writer
	old, new []byte
	pend     []byte
}

func newRewriter(w io.Writer, old, new []byte) *rewriter {
	return &rewriter{w: w, old: old, new: new}
}

func (rw *rewriter) Write(b []byte) (int, error) {
	buf := append(rw.pend, b...)
	var out []byte
	for {
		i := bytes.Index(buf, rw.old)
		if i < 0 {
			break
		}
		out = append(out, buf[:i]...)
		out = append(out, rw.new...)
		buf = buf[i+len(rw.old):]
	}
	hold := min(len(buf), len(rw.old)-1)
	out = append(out, buf[:len(buf)-hold]...)
	rw.pend = append(rw.pend[:0:0], buf[len(buf)-hold:]...)
	if len(out) > 0 {
		if _, err := rw.w.Write(out); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}

// Flush writes what was held back.
func (rw *rewriter) Flush() error {
	if len(rw.pend) == 0 {
		return nil
	}
	_, err := rw.w.Write(rw.pend)
	rw.pend = nil
	return err
}
