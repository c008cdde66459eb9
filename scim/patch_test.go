package scim

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/elimity-com/scim/schema"

	"github.com/orgscim/orgscim"
)

// widgetType has the attribute kinds the standard schemas lack: numbers and a
// multi-valued simple attribute.
func widgetType() *resourceType {
	return &resourceType{Name: "Widget", Endpoint: "/Widgets", Schema: schema.Schema{
		ID: "urn:example:params:scim:schemas:Widget",
		Attributes: schema.Attributes{
			schema.SimpleCoreAttribute(schema.SimpleNumberParams(schema.NumberParams{Name: "level", Type: schema.AttributeTypeInteger()})),
			schema.SimpleCoreAttribute(schema.SimpleNumberParams(schema.NumberParams{Name: "ratio", Type: schema.AttributeTypeDecimal()})),
			schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{Name: "tags", MultiValued: true})),
			schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{Name: "serial", Mutability: schema.AttributeMutabilityImmutable()})),
			schema.SimpleCoreAttribute(schema.SimpleNumberParams(schema.NumberParams{Name: "scores", MultiValued: true, Type: schema.AttributeTypeInteger()})),
			schema.SimpleCoreAttribute(schema.SimpleDateTimeParams(schema.DateTimeParams{Name: "dates", MultiValued: true})),
		},
	}}
}

func decodeJSON(t *testing.T, s string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

const enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

type patchCase struct {
	name string
	rt   *resourceType // userType() when nil
	doc  string
	ops  string
	want string       // the document after the PATCH
	code orgscim.Code // or the error
}

func runPatchCases(t *testing.T, cases []patchCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rt := tc.rt
			if rt == nil {
				rt = userType()
			}
			var doc map[string]any
			decodeJSON(t, tc.doc, &doc)
			var ops []patchOp
			decodeJSON(t, tc.ops, &ops)
			err := applyPatch(rt, doc, ops)
			if tc.code != "" {
				if err == nil {
					t.Fatalf("want %s error, got none; doc %s", tc.code, toJSON(doc))
				}
				if _, ok := err.(*orgscim.Error); !ok || orgscim.ErrorCode(err) != tc.code {
					t.Fatalf("want %s error, got %T %v", tc.code, err, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			var want map[string]any
			decodeJSON(t, tc.want, &want)
			if !reflect.DeepEqual(doc, want) {
				t.Fatalf("doc\n got  %s\n want %s", toJSON(doc), toJSON(want))
			}
		})
	}
}

func TestPatchOpsAndNames(t *testing.T) {
	runPatchCases(t, []patchCase{
		{
			name: "op names are case-insensitive",
			doc:  `{"userName":"a","displayName":"A","title":"T"}`,
			ops: `[{"op":"Replace","path":"displayName","value":"B"},
			       {"op":"ADD","path":"nickName","value":"N"},
			       {"op":"Remove","path":"title"}]`,
			want: `{"userName":"a","displayName":"B","nickName":"N"}`,
		},
		{
			name: "unknown op",
			doc:  `{"userName":"a"}`,
			ops:  `[{"op":"move","path":"userName","value":"b"}]`,
			code: orgscim.InvalidSyntax,
		},
		{
			name: "attribute names in paths and values are case-insensitive and stored canonically",
			doc:  `{"userName":"a","name":{"givenName":"G"}}`,
			ops: `[{"op":"add","path":"name.FamilyName","value":"F"},
			       {"op":"add","value":{"Emails":[{"VALUE":"a@x.org","Type":"work"}],"USERNAME":"b"}}]`,
			want: `{"userName":"b","name":{"givenName":"G","familyName":"F"},"emails":[{"value":"a@x.org","type":"work"}]}`,
		},
		{
			name: "Okta deactivation without a path",
			doc:  `{"userName":"a","active":true}`,
			ops:  `[{"op":"replace","value":{"active":false}}]`,
			want: `{"userName":"a","active":false}`,
		},
		{
			name: "booleans sent as strings in any case",
			doc:  `{"userName":"a","active":true,"emails":[{"value":"a@x.org","primary":true}]}`,
			ops: `[{"op":"Replace","path":"active","value":"False"},
			       {"op":"Add","path":"emails","value":[{"value":"b@x.org","primary":"TRUE"}]}]`,
			want: `{"userName":"a","active":false,"emails":[{"value":"a@x.org"},{"value":"b@x.org","primary":true}]}`,
		},
		{
			name: "a boolean that is no boolean",
			doc:  `{"userName":"a"}`,
			ops:  `[{"op":"replace","path":"active","value":"yes"}]`,
			code: orgscim.InvalidValue,
		},
		{
			name: "a string attribute given a number",
			doc:  `{"userName":"a"}`,
			ops:  `[{"op":"replace","path":"userName","value":5}]`,
			code: orgscim.InvalidValue,
		},
		{
			name: "a complex attribute given a string",
			doc:  `{"userName":"a"}`,
			ops:  `[{"op":"replace","path":"name","value":"Ann"}]`,
			code: orgscim.InvalidValue,
		},
		{
			name: "an unknown sub-attribute in a value",
			doc:  `{"userName":"a"}`,
			ops:  `[{"op":"add","path":"emails","value":[{"value":"a@x.org","colour":"red"}]}]`,
			code: orgscim.InvalidValue,
		},
		{
			name: "add without a value",
			doc:  `{"userName":"a"}`,
			ops:  `[{"op":"add","path":"title"}]`,
			code: orgscim.InvalidValue,
		},
		{
			name: "path-less value that is not an object",
			doc:  `{"userName":"a"}`,
			ops:  `[{"op":"replace","value":"b"}]`,
			code: orgscim.InvalidValue,
		},
		{
			name: "password is stored for the caller to take out",
			doc:  `{"userName":"a"}`,
			ops:  `[{"op":"replace","path":"password","value":"s3cret"}]`,
			want: `{"userName":"a","password":"s3cret"}`,
		},
		{
			name: "externalId is writable by path and by key, and removable",
			doc:  `{"userName":"a"}`,
			ops: `[{"op":"add","path":"externalId","value":"e1"},
			       {"op":"replace","value":{"externalId":"e2","displayName":"D"}}]`,
			want: `{"userName":"a","externalId":"e2","displayName":"D"}`,
		},
		{
			name: "remove externalId",
			doc:  `{"userName":"a","externalId":"e1"}`,
			ops:  `[{"op":"remove","path":"externalId"}]`,
			want: `{"userName":"a"}`,
		},
		{
			name: "userName may be removed: the caller validates required attributes",
			doc:  `{"userName":"a","title":"T"}`,
			ops:  `[{"op":"remove","path":"userName"}]`,
			want: `{"title":"T"}`,
		},
	})
}

func TestPatchPathForms(t *testing.T) {
	runPatchCases(t, []patchCase{
		{
			name: "URN-qualified paths, core and extension",
			doc:  `{"userName":"a","name":{"familyName":"F"}}`,
			ops: `[{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"Sales"},
			       {"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:User:name.givenName","value":"G"},
			       {"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value","value":"m1"}]`,
			want: `{"userName":"a","name":{"familyName":"F","givenName":"G"},
			        "` + enterprise + `":{"department":"Sales","manager":{"value":"m1"}}}`,
		},
		{
			name: "URN prefix in any case",
			doc:  `{"userName":"a"}`,
			ops:  `[{"op":"add","path":"URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:Department","value":"Ops"}]`,
			want: `{"userName":"a","` + enterprise + `":{"department":"Ops"}}`,
		},
		{
			name: "Entra sends the manager as a bare id",
			doc:  `{"userName":"a"}`,
			ops:  `[{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"m1"}]`,
			want: `{"userName":"a","` + enterprise + `":{"manager":{"value":"m1"}}}`,
		},
		{
			name: "path naming the extension itself",
			doc:  `{"userName":"a","` + enterprise + `":{"division":"D"}}`,
			ops:  `[{"op":"add","path":"` + enterprise + `","value":{"costCenter":"C","Division":"E"}}]`,
			want: `{"userName":"a","` + enterprise + `":{"division":"E","costCenter":"C"}}`,
		},
		{
			name: "path-less value with dotted, URN-qualified and extension keys",
			doc:  `{"userName":"a","name":{"familyName":"F"},"` + enterprise + `":{"division":"D"}}`,
			ops: `[{"op":"replace","value":{
			          "name.givenName":"G",
			          "urn:ietf:params:scim:schemas:core:2.0:User:displayName":"Disp",
			          "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"Sales",
			          "` + enterprise + `":{"employeeNumber":"7","manager":{"value":"m1"}}}}]`,
			want: `{"userName":"a","displayName":"Disp","name":{"familyName":"F","givenName":"G"},
			        "` + enterprise + `":{"division":"D","department":"Sales","employeeNumber":"7","manager":{"value":"m1"}}}`,
		},
		{
			name: "the core URN as a key of a path-less value",
			doc:  `{"userName":"a"}`,
			ops:  `[{"op":"add","value":{"urn:ietf:params:scim:schemas:core:2.0:User":{"title":"T","name":{"givenName":"G"}}}}]`,
			want: `{"userName":"a","title":"T","name":{"givenName":"G"}}`,
		},
		{
			name: "the core schema cannot be removed",
			doc:  `{"userName":"a"}`,
			ops:  `[{"op":"remove","path":"urn:ietf:params:scim:schemas:core:2.0:User"}]`,
			code: orgscim.InvalidPath,
		},
		{
			name: "replace of a complex attribute merges its sub-attributes",
			doc:  `{"userName":"a","name":{"familyName":"F","givenName":"G"}}`,
			ops: `[{"op":"replace","path":"name","value":{"givenName":"H"}},
			       {"op":"replace","value":{"name":{"middleName":"M"}}}]`,
			want: `{"userName":"a","name":{"familyName":"F","givenName":"H","middleName":"M"}}`,
		},
		{
			name: "null in a value object unassigns on replace and is ignored on add",
			doc:  `{"userName":"a","title":"T","nickName":"N","name":{"givenName":"G","familyName":"F"}}`,
			ops: `[{"op":"replace","value":{"title":null,"name":{"givenName":null}}},
			       {"op":"add","value":{"nickName":null}}]`,
			want: `{"userName":"a","nickName":"N","name":{"familyName":"F"}}`,
		},
		{
			name: "value paths as keys of a path-less value; null unassigns only what matches",
			doc:  `{"userName":"a","emails":[{"value":"h@x.org","type":"home"}],"phoneNumbers":[{"value":"1","type":"work"}]}`,
			ops: `[{"op":"replace","value":{
			          "emails[type eq \"work\"].value":"w@x.org",
			          "phoneNumbers[type eq \"work\"].value":null,
			          "ims[type eq \"work\"].value":null}}]`,
			want: `{"userName":"a","emails":[{"value":"h@x.org","type":"home"},{"type":"work","value":"w@x.org"}],"phoneNumbers":[{"type":"work"}]}`,
		},
		{
			name: "unknown attribute in a path",
			doc:  `{"userName":"a"}`,
			ops:  `[{"op":"add","path":"shoeSize","value":"44"}]`,
			code: orgscim.InvalidPath,
		},
		{
			name: "unknown sub-attribute in a path",
			doc:  `{"userName":"a"}`,
			ops:  `[{"op":"add","path":"name.nick","value":"x"}]`,
			code: orgscim.InvalidPath,
		},
		{
			name: "unknown key in a path-less value",
			doc:  `{"userName":"a"}`,
			ops:  `[{"op":"add","value":{"shoeSize":"44"}}]`,
			code: orgscim.InvalidPath,
		},
		{
			name: "unknown schema URN",
			doc:  `{"userName":"a"}`,
			ops:  `[{"op":"add","path":"urn:example:custom:2.0:User:badge","value":"1"}]`,
			code: orgscim.InvalidPath,
		},
		{
			name: "malformed path",
			doc:  `{"userName":"a"}`,
			ops:  `[{"op":"add","path":"emails[type eq ","value":"x"}]`,
			code: orgscim.InvalidPath,
		},
		{
			name: "malformed path after the filter",
			doc:  `{"userName":"a"}`,
			ops:  `[{"op":"add","path":"emails[type eq \"work\"]value","value":"x"}]`,
			code: orgscim.InvalidPath,
		},
		{
			name: "filter on a single-valued attribute",
			doc:  `{"userName":"a"}`,
			ops:  `[{"op":"replace","path":"name[givenName eq \"x\"].familyName","value":"y"}]`,
			code: orgscim.InvalidPath,
		},
		{
			name: "unknown attribute in a filter",
			doc:  `{"userName":"a","emails":[{"value":"a@x.org"}]}`,
			ops:  `[{"op":"replace","path":"emails[colour eq \"red\"].value","value":"b@x.org"}]`,
			code: orgscim.InvalidFilter,
		},
		{
			name: "ordering a boolean in a filter",
			doc:  `{"userName":"a","emails":[{"value":"a@x.org"}]}`,
			ops:  `[{"op":"remove","path":"emails[primary gt true]"}]`,
			code: orgscim.InvalidFilter,
		},
	})
}

func TestPatchReadOnlyAndImmutable(t *testing.T) {
	runPatchCases(t, []patchCase{
		{name: "groups by path", doc: `{"userName":"a"}`, ops: `[{"op":"add","path":"groups","value":[{"value":"g"}]}]`, code: orgscim.Mutability},
		{name: "manager.displayName by path", doc: `{"userName":"a"}`, ops: `[{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName","value":"Boss"}]`, code: orgscim.Mutability},
		{name: "id by path", doc: `{"userName":"a"}`, ops: `[{"op":"replace","path":"id","value":"x"}]`, code: orgscim.Mutability},
		{name: "meta.created by path", doc: `{"userName":"a"}`, ops: `[{"op":"replace","path":"meta.created","value":"2020-01-01T00:00:00Z"}]`, code: orgscim.Mutability},
		{name: "schemas by path", doc: `{"userName":"a"}`, ops: `[{"op":"remove","path":"schemas"}]`, code: orgscim.Mutability},
		{
			name: "read-only keys echoed in a value object are ignored",
			doc:  `{"userName":"a"}`,
			ops: `[{"op":"replace","value":{
			          "id":"x","schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
			          "meta":{"resourceType":"User"},"groups":[{"value":"g"}],"displayName":"D",
			          "` + enterprise + `":{"manager":{"value":"m1","displayName":"Boss"}}}}]`,
			want: `{"userName":"a","displayName":"D","` + enterprise + `":{"manager":{"value":"m1"}}}`,
		},
		{
			name: "immutable member sub-attribute cannot change",
			rt:   groupType(),
			doc:  `{"displayName":"G","members":[{"value":"a","display":"Ann"}]}`,
			ops:  `[{"op":"replace","path":"members[value eq \"a\"].display","value":"Anne"}]`,
			code: orgscim.Mutability,
		},
		{
			name: "immutable member sub-attribute cannot be removed",
			rt:   groupType(),
			doc:  `{"displayName":"G","members":[{"value":"a","display":"Ann"}]}`,
			ops:  `[{"op":"remove","path":"members[value eq \"a\"].display"}]`,
			code: orgscim.Mutability,
		},
		{
			name: "immutable member sub-attribute: writing the same value or a missing one succeeds",
			rt:   groupType(),
			doc:  `{"displayName":"G","members":[{"value":"a","display":"Ann"},{"value":"b"}]}`,
			ops: `[{"op":"replace","path":"members[value eq \"a\"].display","value":"Ann"},
			       {"op":"replace","path":"members[value eq \"b\"].display","value":"Bob"}]`,
			want: `{"displayName":"G","members":[{"value":"a","display":"Ann"},{"value":"b","display":"Bob"}]}`,
		},
		{
			name: "immutable simple attribute: set once, then only to the same value",
			rt:   widgetType(),
			doc:  `{}`,
			ops: `[{"op":"add","path":"serial","value":"S1"},
			       {"op":"replace","path":"serial","value":"S1"}]`,
			want: `{"serial":"S1"}`,
		},
		{
			name: "immutable simple attribute cannot change",
			rt:   widgetType(),
			doc:  `{"serial":"S1"}`,
			ops:  `[{"op":"replace","value":{"serial":"S2"}}]`,
			code: orgscim.Mutability,
		},
		{
			name: "immutable simple attribute cannot be removed",
			rt:   widgetType(),
			doc:  `{"serial":"S1"}`,
			ops:  `[{"op":"remove","path":"serial"}]`,
			code: orgscim.Mutability,
		},
	})
}

func TestPatchMultiValued(t *testing.T) {
	runPatchCases(t, []patchCase{
		{
			name: "add appends a single object or an array",
			doc:  `{"userName":"a","emails":[{"value":"a@x.org","type":"work"}]}`,
			ops: `[{"op":"add","path":"emails","value":{"value":"b@x.org","type":"home"}},
			       {"op":"add","path":"phoneNumbers","value":[{"value":"1"},{"value":"2"}]}]`,
			want: `{"userName":"a","emails":[{"value":"a@x.org","type":"work"},{"value":"b@x.org","type":"home"}],
			        "phoneNumbers":[{"value":"1"},{"value":"2"}]}`,
		},
		{
			name: "add of an existing value merges instead of duplicating",
			doc:  `{"userName":"a","emails":[{"value":"a@x.org","type":"work"}]}`,
			ops:  `[{"op":"add","path":"emails","value":[{"value":"A@X.ORG","display":"Ann"}]}]`,
			want: `{"userName":"a","emails":[{"value":"A@X.ORG","type":"work","display":"Ann"}]}`,
		},
		{
			name: "path-less add appends, path-less replace replaces",
			doc:  `{"userName":"a","emails":[{"value":"a@x.org"}],"phoneNumbers":[{"value":"1"}]}`,
			ops: `[{"op":"add","value":{"emails":[{"value":"b@x.org"}]}},
			       {"op":"replace","value":{"phoneNumbers":[{"value":"2"}]}}]`,
			want: `{"userName":"a","emails":[{"value":"a@x.org"},{"value":"b@x.org"}],"phoneNumbers":[{"value":"2"}]}`,
		},
		{
			name: "replace without a filter replaces the whole array",
			doc:  `{"userName":"a","emails":[{"value":"a@x.org"},{"value":"b@x.org"}]}`,
			ops:  `[{"op":"replace","path":"emails","value":[{"value":"c@x.org","type":"work"}]}]`,
			want: `{"userName":"a","emails":[{"value":"c@x.org","type":"work"}]}`,
		},
		{
			name: "replace of a filtered sub-attribute changes only matching elements",
			doc:  `{"userName":"a","emails":[{"value":"a@x.org","type":"work"},{"value":"h@x.org","type":"home"}]}`,
			ops:  `[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"new@x.org"}]`,
			want: `{"userName":"a","emails":[{"value":"new@x.org","type":"work"},{"value":"h@x.org","type":"home"}]}`,
		},
		{
			name: "Entra: replace of a filtered sub-attribute that matches nothing creates the element",
			doc:  `{"userName":"a","emails":[{"value":"h@x.org","type":"home"}]}`,
			ops:  `[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"w@x.org"}]`,
			want: `{"userName":"a","emails":[{"value":"h@x.org","type":"home"},{"type":"work","value":"w@x.org"}]}`,
		},
		{
			name: "Entra: add to an address that does not exist yet",
			doc:  `{"userName":"a"}`,
			ops: `[{"op":"Add","path":"addresses[type eq \"work\"].streetAddress","value":"1 Main St"},
			       {"op":"Add","path":"addresses[type eq \"work\"].locality","value":"Springfield"}]`,
			want: `{"userName":"a","addresses":[{"type":"work","streetAddress":"1 Main St","locality":"Springfield"}]}`,
		},
		{
			name: "a conjunction of eq tests creates its element, primary included",
			doc:  `{"userName":"a","emails":[{"value":"h@x.org","type":"home","primary":true}]}`,
			ops:  `[{"op":"replace","path":"emails[type eq \"work\" and primary eq true].value","value":"w@x.org"}]`,
			want: `{"userName":"a","emails":[{"value":"h@x.org","type":"home"},{"type":"work","primary":true,"value":"w@x.org"}]}`,
		},
		{
			name: "replace with a filter that describes no element and matches none",
			doc:  `{"userName":"a","emails":[{"value":"a@x.org","type":"work"}]}`,
			ops:  `[{"op":"replace","path":"emails[value co \"zzz\"].type","value":"home"}]`,
			code: orgscim.NoTarget,
		},
		{
			name: "replace of whole matching elements",
			doc:  `{"userName":"a","emails":[{"value":"a@x.org","type":"work","display":"A"},{"value":"h@x.org","type":"home"}]}`,
			ops:  `[{"op":"replace","path":"emails[type eq \"work\"]","value":{"value":"b@x.org","type":"work"}}]`,
			want: `{"userName":"a","emails":[{"value":"b@x.org","type":"work"},{"value":"h@x.org","type":"home"}]}`,
		},
		{
			name: "add to matching elements merges",
			doc:  `{"userName":"a","emails":[{"value":"a@x.org","type":"work"}]}`,
			ops:  `[{"op":"add","path":"emails[type eq \"work\"]","value":{"display":"Work"}}]`,
			want: `{"userName":"a","emails":[{"value":"a@x.org","type":"work","display":"Work"}]}`,
		},
		{
			name: "sub-attribute of a multi-valued attribute without a filter addresses every element",
			doc:  `{"userName":"a","emails":[{"value":"a@x.org"},{"value":"b@x.org"}]}`,
			ops:  `[{"op":"replace","path":"emails.type","value":"work"}]`,
			want: `{"userName":"a","emails":[{"value":"a@x.org","type":"work"},{"value":"b@x.org","type":"work"}]}`,
		},
		{
			name: "filter operators and grouping",
			doc: `{"userName":"a","emails":[
			        {"value":"a@corp.com","type":"work"},
			        {"value":"b@home.org","type":"home"},
			        {"value":"c@home.net","type":"home"},
			        {"value":"d@other.org"}]}`,
			ops: `[{"op":"add","path":"emails[type eq \"work\" or (type eq \"home\" and value ew \".ORG\")].display","value":"1"},
			       {"op":"add","path":"emails[not (type pr)].display","value":"2"},
			       {"op":"add","path":"emails[value sw \"C@\" and type ne \"work\"].display","value":"3"}]`,
			want: `{"userName":"a","emails":[
			        {"value":"a@corp.com","type":"work","display":"1"},
			        {"value":"b@home.org","type":"home","display":"1"},
			        {"value":"c@home.net","type":"home","display":"3"},
			        {"value":"d@other.org","display":"2"}]}`,
		},
		{
			name: "ordered string comparison, case-insensitive for e-mails",
			doc:  `{"userName":"a","emails":[{"value":"Alice@x.org"},{"value":"bob@x.org"},{"value":"carol@x.org"}]}`,
			ops:  `[{"op":"remove","path":"emails[value lt \"B\"]"},{"op":"remove","path":"emails[value gt \"BZ\"]"}]`,
			want: `{"userName":"a","emails":[{"value":"bob@x.org"}]}`,
		},
		{
			name: "null in a filter tests presence; a qualified name in a filter",
			doc:  `{"userName":"a","emails":[{"value":"a@x.org","type":"work"},{"value":"b@x.org"}]}`,
			ops: `[{"op":"add","path":"emails[type eq null].type","value":"other"},
			       {"op":"add","path":"emails[emails.type eq \"work\"].display","value":"W"},
			       {"op":"add","path":"emails[display ne null].primary","value":true}]`,
			want: `{"userName":"a","emails":[{"value":"a@x.org","type":"work","display":"W","primary":true},{"value":"b@x.org","type":"other"}]}`,
		},
		{
			name: "a bracket inside a quoted filter value",
			doc:  `{"userName":"a","emails":[{"value":"a]b@x.org"},{"value":"c@x.org"}]}`,
			ops:  `[{"op":"remove","path":"emails[value eq \"a]b@x.org\" or (value eq \"zzz\")]"}]`,
			want: `{"userName":"a","emails":[{"value":"c@x.org"}]}`,
		},
		{
			name: "remove by value without a value sub-attribute matches on what is given",
			doc:  `{"userName":"a","emails":[{"value":"a@x.org","type":"work"},{"value":"h@x.org","type":"home"}]}`,
			ops:  `[{"op":"remove","path":"emails","value":[{"type":"HOME"}]}]`,
			want: `{"userName":"a","emails":[{"value":"a@x.org","type":"work"}]}`,
		},
		{
			name: "add of an equal element without a value is skipped",
			doc:  `{"userName":"a","addresses":[{"type":"work","locality":"Springfield"}]}`,
			ops:  `[{"op":"add","path":"addresses","value":[{"Type":"WORK","locality":"springfield"},{"type":"home"}]}]`,
			want: `{"userName":"a","addresses":[{"type":"work","locality":"Springfield"},{"type":"home"}]}`,
		},
		{
			name: "string comparison honours caseExact: photo URLs are case-exact",
			doc:  `{"userName":"a","photos":[{"value":"https://x.org/A.png"},{"value":"https://x.org/a.png"}]}`,
			ops:  `[{"op":"remove","path":"photos[value eq \"https://x.org/a.png\"]"}]`,
			want: `{"userName":"a","photos":[{"value":"https://x.org/A.png"}]}`,
		},
		{
			name: "string comparison honours caseExact: e-mail types are not",
			doc:  `{"userName":"a","emails":[{"value":"a@x.org","type":"Work"},{"value":"h@x.org","type":"home"}]}`,
			ops:  `[{"op":"remove","path":"emails[type eq \"WORK\"]"}]`,
			want: `{"userName":"a","emails":[{"value":"h@x.org","type":"home"}]}`,
		},
		{
			name: "remove of matching elements, of a sub-attribute, and of the last element",
			doc:  `{"userName":"a","emails":[{"value":"a@x.org","type":"work"},{"value":"h@x.org","type":"home"}],"phoneNumbers":[{"value":"1","type":"work"}]}`,
			ops: `[{"op":"remove","path":"emails[type eq \"home\"]"},
			       {"op":"remove","path":"emails[type eq \"work\"].type"},
			       {"op":"remove","path":"phoneNumbers[value eq \"1\"]"}]`,
			want: `{"userName":"a","emails":[{"value":"a@x.org"}]}`,
		},
		{
			name: "remove whose filter matches nothing changes nothing",
			doc:  `{"userName":"a","emails":[{"value":"a@x.org","type":"work"}]}`,
			ops: `[{"op":"remove","path":"emails[type eq \"home\"]"},
			       {"op":"remove","path":"phoneNumbers[type eq \"home\"]"},
			       {"op":"remove","path":"nickName"},
			       {"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"}]`,
			want: `{"userName":"a","emails":[{"value":"a@x.org","type":"work"}]}`,
		},
		{
			name: "remove of sub-attributes and extension attributes tidies up empty objects",
			doc:  `{"userName":"a","name":{"givenName":"G"},"` + enterprise + `":{"department":"D","manager":{"value":"m"}}}`,
			ops: `[{"op":"remove","path":"name.givenName"},
			       {"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"},
			       {"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}]`,
			want: `{"userName":"a"}`,
		},
		{
			name: "a null extension in a path-less replace unassigns it",
			doc:  `{"userName":"a","` + enterprise + `":{"department":"D"}}`,
			ops:  `[{"op":"replace","value":{"` + enterprise + `":null,"title":"T"}}]`,
			want: `{"userName":"a","title":"T"}`,
		},
		{
			name: "remove of a whole extension",
			doc:  `{"userName":"a","` + enterprise + `":{"department":"D"}}`,
			ops:  `[{"op":"remove","path":"` + enterprise + `"}]`,
			want: `{"userName":"a"}`,
		},
		{
			name: "remove without a path",
			doc:  `{"userName":"a","title":"T"}`,
			ops:  `[{"op":"remove","value":{"title":"T"}}]`,
			code: orgscim.NoTarget,
		},
	})
}

func TestPatchPrimary(t *testing.T) {
	runPatchCases(t, []patchCase{
		{
			name: "an added primary takes primary from the others",
			doc:  `{"userName":"a","emails":[{"value":"a@x.org","primary":true},{"value":"b@x.org","primary":false}]}`,
			ops:  `[{"op":"add","path":"emails","value":{"value":"c@x.org","primary":true}}]`,
			want: `{"userName":"a","emails":[{"value":"a@x.org"},{"value":"b@x.org","primary":false},{"value":"c@x.org","primary":true}]}`,
		},
		{
			name: "setting primary through a filter",
			doc:  `{"userName":"a","emails":[{"value":"a@x.org","type":"work","primary":true},{"value":"h@x.org","type":"home"}]}`,
			ops:  `[{"op":"replace","path":"emails[type eq \"home\"].primary","value":"True"}]`,
			want: `{"userName":"a","emails":[{"value":"a@x.org","type":"work"},{"value":"h@x.org","type":"home","primary":true}]}`,
		},
		{
			name: "a replaced array keeps only its last primary",
			doc:  `{"userName":"a"}`,
			ops:  `[{"op":"replace","path":"emails","value":[{"value":"a@x.org","primary":true},{"value":"b@x.org","primary":true}]}]`,
			want: `{"userName":"a","emails":[{"value":"a@x.org"},{"value":"b@x.org","primary":true}]}`,
		},
		{
			name: "writing a non-primary element leaves the primary alone",
			doc:  `{"userName":"a","emails":[{"value":"a@x.org","primary":true}]}`,
			ops:  `[{"op":"add","path":"emails","value":{"value":"b@x.org","primary":false}}]`,
			want: `{"userName":"a","emails":[{"value":"a@x.org","primary":true},{"value":"b@x.org","primary":false}]}`,
		},
		{
			name: "Entra roles with primary as a string",
			doc:  `{"userName":"a","roles":[{"value":"r1","primary":true}]}`,
			ops:  `[{"op":"Add","path":"roles","value":[{"primary":"True","type":"WindowsAzureActiveDirectoryRole","value":"r2"}]}]`,
			want: `{"userName":"a","roles":[{"value":"r1"},{"value":"r2","type":"WindowsAzureActiveDirectoryRole","primary":true}]}`,
		},
	})
}

func TestPatchGroupMembers(t *testing.T) {
	g := groupType()
	const three = `{"displayName":"G","members":[{"value":"a","display":"Ann"},{"value":"b","display":"Bob"},{"value":"c"}]}`
	runPatchCases(t, []patchCase{
		{
			name: "Entra removes one member by value, never all",
			rt:   g,
			doc:  three,
			ops:  `[{"op":"Remove","path":"members","value":[{"value":"b"}]}]`,
			want: `{"displayName":"G","members":[{"value":"a","display":"Ann"},{"value":"c"}]}`,
		},
		{
			name: "removal by value ignores a stale display and unknown members",
			rt:   g,
			doc:  three,
			ops:  `[{"op":"remove","path":"members","value":[{"value":"A","display":"Old"},{"value":"zzz"}]}]`,
			want: `{"displayName":"G","members":[{"value":"b","display":"Bob"},{"value":"c"}]}`,
		},
		{
			name: "removal with an empty value removes nothing",
			rt:   g,
			doc:  three,
			ops:  `[{"op":"remove","path":"members","value":[]}]`,
			want: three,
		},
		{
			name: "removal by bare ids",
			rt:   g,
			doc:  three,
			ops:  `[{"op":"remove","path":"members","value":["a","c"]}]`,
			want: `{"displayName":"G","members":[{"value":"b","display":"Bob"}]}`,
		},
		{
			name: "Okta removes a member by filter",
			rt:   g,
			doc:  three,
			ops:  `[{"op":"remove","path":"members[value eq \"c\"]"}]`,
			want: `{"displayName":"G","members":[{"value":"a","display":"Ann"},{"value":"b","display":"Bob"}]}`,
		},
		{
			name: "remove of the whole attribute without a value",
			rt:   g,
			doc:  three,
			ops:  `[{"op":"remove","path":"members"}]`,
			want: `{"displayName":"G"}`,
		},
		{
			name: "Entra adds members as bare ids, singly or in an array",
			rt:   g,
			doc:  `{"displayName":"G"}`,
			ops: `[{"op":"Add","path":"members","value":"a"},
			       {"op":"Add","path":"members","value":["b"]}]`,
			want: `{"displayName":"G","members":[{"value":"a"},{"value":"b"}]}`,
		},
		{
			name: "re-adding a member does not duplicate it and keeps its immutable display",
			rt:   g,
			doc:  three,
			ops:  `[{"op":"add","path":"members","value":[{"value":"a","display":"Anne"},{"value":"c","display":"Cy"},{"value":"d"}]}]`,
			want: `{"displayName":"G","members":[{"value":"a","display":"Ann"},{"value":"b","display":"Bob"},{"value":"c","display":"Cy"},{"value":"d"}]}`,
		},
		{
			name: "Okta renames a group with a path-less replace echoing id",
			rt:   g,
			doc:  three,
			ops:  `[{"op":"replace","value":{"id":"g1","displayName":"New"}}]`,
			want: `{"displayName":"New","members":[{"value":"a","display":"Ann"},{"value":"b","display":"Bob"},{"value":"c"}]}`,
		},
		{
			name: "replace of all members",
			rt:   g,
			doc:  three,
			ops:  `[{"op":"replace","path":"members","value":[{"value":"x","$ref":"https://h/Users/x","type":"User"}]}]`,
			want: `{"displayName":"G","members":[{"value":"x","$ref":"https://h/Users/x","type":"User"}]}`,
		},
	})
}

func TestPatchCoercion(t *testing.T) {
	w := widgetType()
	runPatchCases(t, []patchCase{
		{
			name: "numbers sent as strings",
			rt:   w,
			doc:  `{}`,
			ops: `[{"op":"add","path":"level","value":"42"},
			       {"op":"add","path":"ratio","value":"0.5"}]`,
			want: `{"level":42,"ratio":0.5}`,
		},
		{
			name: "numbers",
			rt:   w,
			doc:  `{"level":1}`,
			ops:  `[{"op":"replace","value":{"level":7,"ratio":2.25}}]`,
			want: `{"level":7,"ratio":2.25}`,
		},
		{
			name: "a fraction for an integer",
			rt:   w,
			doc:  `{}`,
			ops:  `[{"op":"add","path":"level","value":1.5}]`,
			code: orgscim.InvalidValue,
		},
		{
			name: "a word for a decimal",
			rt:   w,
			doc:  `{}`,
			ops:  `[{"op":"add","path":"ratio","value":"half"}]`,
			code: orgscim.InvalidValue,
		},
		{
			name: "simple multi-valued attribute: add skips duplicates, filters use value",
			rt:   w,
			doc:  `{"tags":["red","blue"]}`,
			ops: `[{"op":"add","path":"tags","value":["RED","green"]},
			       {"op":"remove","path":"tags[value eq \"blue\"]"},
			       {"op":"replace","path":"tags[value sw \"gr\"]","value":"teal"}]`,
			want: `{"tags":["red","teal"]}`,
		},
		{
			name: "a string attribute compared with a number in a filter",
			rt:   w,
			doc:  `{"tags":["a"]}`,
			ops:  `[{"op":"remove","path":"tags[value gt 3]"}]`,
			code: orgscim.InvalidFilter,
		},
		{
			name: "ordered comparisons of numbers, strings given as numbers included",
			rt:   w,
			doc:  `{"scores":[1,5,10,20]}`,
			ops: `[{"op":"remove","path":"scores[value gt 15]"},
			       {"op":"remove","path":"scores[value le \"1\"]"},
			       {"op":"add","path":"scores","value":["5","7"]}]`,
			want: `{"scores":[5,10,7]}`,
		},
		{
			name: "ordered comparisons of dateTimes compare instants",
			rt:   w,
			doc:  `{"dates":["2024-01-01T12:00:00+02:00","2024-01-01T11:00:00Z","2023-06-01T00:00:00Z"]}`,
			ops:  `[{"op":"remove","path":"dates[value ge \"2024-01-01T10:30:00Z\"]"}]`,
			want: `{"dates":["2024-01-01T12:00:00+02:00","2023-06-01T00:00:00Z"]}`,
		},
		{
			name: "a dateTime that is no dateTime",
			rt:   w,
			doc:  `{}`,
			ops:  `[{"op":"add","path":"dates","value":"yesterday"}]`,
			code: orgscim.InvalidValue,
		},
	})
}

// One invalid operation fails the whole request; the caller then discards its copy,
// which deepCopy keeps independent of the stored document.
func TestPatchAtomicWithDeepCopy(t *testing.T) {
	var stored map[string]any
	decodeJSON(t, `{"userName":"a","name":{"givenName":"G"},"emails":[{"value":"a@x.org","primary":true}]}`, &stored)
	before := toJSON(stored)

	var ops []patchOp
	decodeJSON(t, `[{"op":"replace","path":"name.givenName","value":"H"},
	                {"op":"add","path":"emails","value":{"value":"b@x.org","primary":true}},
	                {"op":"replace","path":"nope","value":"x"}]`, &ops)
	work := deepCopy(stored)
	err := applyPatch(userType(), work, ops)
	if orgscim.ErrorCode(err) != orgscim.InvalidPath {
		t.Fatalf("want invalid path, got %v", err)
	}
	if !strings.Contains(err.Error(), "Operations[2]") {
		t.Errorf("error %q does not name the failing operation", err)
	}
	if got := toJSON(stored); got != before {
		t.Fatalf("stored document changed:\n got  %s\n want %s", got, before)
	}
	// The valid operations did run on the copy: only the copy is discarded.
	if toJSON(work["name"]) != `{"givenName":"H"}` {
		t.Fatalf("copy not patched before the failure: %s", toJSON(work))
	}
}

func TestDeepCopyIsDeep(t *testing.T) {
	orig := map[string]any{
		"name":   map[string]any{"givenName": "G"},
		"emails": []any{map[string]any{"value": "a@x.org"}},
		"typed":  []map[string]any{{"value": "t"}},
	}
	c := deepCopy(orig)
	c["name"].(map[string]any)["givenName"] = "H"
	c["emails"].([]any)[0].(map[string]any)["value"] = "b@x.org"
	c["typed"].([]map[string]any)[0]["value"] = "u"
	want := `{"emails":[{"value":"a@x.org"}],"name":{"givenName":"G"},"typed":[{"value":"t"}]}`
	if got := toJSON(orig); got != want {
		t.Fatalf("original changed: %s", got)
	}
}
