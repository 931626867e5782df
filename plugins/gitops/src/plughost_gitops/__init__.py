from plughost import Plugin
plugin = Plugin(scopes={})
