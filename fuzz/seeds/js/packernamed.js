
function unpk(p,a,c,k,e,d){while(c--){if(k[c]){p=p.replace(new RegExp('\\b'+c.toString(a)+'\\b','g'),k[c])}}return p} document.write(unpk('0 1',10,2,'hello|world'.split('|'),0,{})); x=unpk('1 0',10,2,'a|b'.split('|'),0,{});
</script>