package mailbox

import "sort"

func sortMsgs(ms []*message) {
	sort.Slice(ms, func(i, j int) bool { return ms[i].uid < ms[j].uid })
}

func sortInfos(in []MessageInfo) {
	sort.Slice(in, func(i, j int) bool { return in[i].UID < in[j].UID })
}
