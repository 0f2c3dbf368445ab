
var r = /ab+c\/d["']/gi; x = 'q'.replace(/\s+/g, '');
</script>