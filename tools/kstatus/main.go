// kstatus prints the kstatus (sigs.k8s.io/cli-utils, what Flux and kpt use to decide whether a
// deployment succeeded) of each object it reads as JSON from stdin: one object, a list
// ({"items": [...]}) or a JSON array. Output: one JSON line per object,
// {"kind","name","status","message"}.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kjson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type result struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

func main() {
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(err)
	}
	objects, err := decode(raw)
	if err != nil {
		fail(err)
	}
	out := json.NewEncoder(os.Stdout)
	for _, obj := range objects {
		u := &unstructured.Unstructured{Object: obj}
		res, err := status.Compute(u)
		if err != nil {
			fail(fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err))
		}
		if err := out.Encode(result{Kind: u.GetKind(), Name: u.GetName(), Status: res.Status.String(), Message: res.Message}); err != nil {
			fail(err)
		}
	}
}

// decode keeps integers as int64 (what unstructured accessors expect), not float64.
func decode(raw []byte) ([]map[string]interface{}, error) {
	var array []map[string]interface{}
	if err := kjson.Unmarshal(raw, &array); err == nil {
		return array, nil
	}
	var one map[string]interface{}
	if err := kjson.Unmarshal(raw, &one); err != nil {
		return nil, err
	}
	if items, ok := one["items"].([]interface{}); ok {
		list := make([]map[string]interface{}, 0, len(items))
		for _, item := range items {
			if m, ok := item.(map[string]interface{}); ok {
				list = append(list, m)
			}
		}
		return list, nil
	}
	return []map[string]interface{}{one}, nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "kstatus:", err)
	os.Exit(1)
}
